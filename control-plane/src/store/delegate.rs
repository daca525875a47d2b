//! A store built around another one: every call goes to [`Delegate::inner`] but those the
//! wrapper overrides. [`SealedSecrets`](super::SealedSecrets) seals Secrets this way, and the
//! tests inject faults (a stalled flush, a race before a transaction) without restating the
//! calls they leave alone, so a wrapper never falls back to a slower default by forgetting one
//! (`get_many`, `max_txn_ops`).

use super::{Compare, FeedSink, Record, Store, StoreError, TxnOutcome};
use wasmpod_api::{AnyObject, Kind, ObjectKey};

pub trait Delegate: Send + Sync + 'static {
    /// The store every call not overridden goes to.
    fn inner(&self) -> &dyn Store;

    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError> {
        self.inner().get(key)
    }
    fn get_many(&self, keys: &[ObjectKey]) -> Result<Vec<Option<AnyObject>>, StoreError> {
        self.inner().get_many(keys)
    }
    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError> {
        self.inner().list(kind, namespace)
    }
    fn revision(&self) -> Result<u64, StoreError> {
        self.inner().revision()
    }
    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError> {
        self.inner().txn(compares, writes)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner().flush()
    }
    fn follow(&self, revision: u64, sink: FeedSink) -> Result<bool, StoreError> {
        self.inner().follow(revision, sink)
    }
    fn max_txn_ops(&self) -> usize {
        self.inner().max_txn_ops()
    }
    fn get_record(&self, name: &str) -> Result<Option<Record>, StoreError> {
        self.inner().get_record(name)
    }
    fn put_record(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.inner().put_record(name, value, expected)
    }
}

impl<D: Delegate> Store for D {
    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError> {
        Delegate::get(self, key)
    }
    fn get_many(&self, keys: &[ObjectKey]) -> Result<Vec<Option<AnyObject>>, StoreError> {
        Delegate::get_many(self, keys)
    }
    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError> {
        Delegate::list(self, kind, namespace)
    }
    fn revision(&self) -> Result<u64, StoreError> {
        Delegate::revision(self)
    }
    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError> {
        Delegate::txn(self, compares, writes)
    }
    fn flush(&self) -> Result<(), StoreError> {
        Delegate::flush(self)
    }
    fn follow(&self, revision: u64, sink: FeedSink) -> Result<bool, StoreError> {
        Delegate::follow(self, revision, sink)
    }
    fn max_txn_ops(&self) -> usize {
        Delegate::max_txn_ops(self)
    }
    fn get_record(&self, name: &str) -> Result<Option<Record>, StoreError> {
        Delegate::get_record(self, name)
    }
    fn put_record(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        Delegate::put_record(self, name, value, expected)
    }
}
