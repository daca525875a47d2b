//! Persistence of objects behind a trait, so sled (the embedded default) and etcd (several API
//! servers) are interchangeable.
//!
//! The store owns revisions: a batch commits as one conditional transaction ([`Store::txn`]) and
//! gets one revision R, and every object written by it carries R as `metadata.resourceVersion`
//! (its mod revision) when read back. A store other processes write to as well (etcd) also
//! offers a change feed ([`Store::follow`]), in revision order, that the registry feeds its watch
//! hub and caches from.
//!
//! The controllers' writes are fenced ([`Compare::Leader`]): on a shared store a batch also
//! states the leader term it was computed under, so a leader deposed while it stalled cannot
//! land a write after another server took over ([`TxnOutcome::Fenced`]).

mod blocking;
mod delegate;
mod etcd_store;
mod sealed;
mod sled_store;

pub use blocking::off_worker;
pub use delegate::Delegate;
pub use etcd_store::{parse_etcd_url, EtcdStore, EtcdUrlError};
pub use sealed::{load_or_create_key, SealedSecrets};
pub use sled_store::SledStore;

use serde_json::Value;
use thiserror::Error;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("etcd request failed: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("etcd did not answer within {0:?}")]
    EtcdTimeout(std::time::Duration),
    #[error("stored object {key} is corrupt: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("object {0} has no kind")]
    NoKind(String),
    #[error("secret {0} cannot be sealed or opened (wrong encryption key?)")]
    Sealing(String),
    #[error("the store's change feed has stopped")]
    FeedStopped,
    /// A fenced write on a store without an election (one server always leads: nothing to fence).
    #[error("this store has no leader election: a write cannot be fenced with {0}")]
    NoElection(Fence),
}

/// The term of the server leading the controllers: the election key (the whole etcd key, as the
/// elector writes it) and its create revision when this server took it. The key is attached to
/// the leader's lease, so it is gone when the lease expires, and a new leader creates it again
/// at a new revision: the term holds exactly while this server still leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: String,
    pub term: i64,
}

impl std::fmt::Display for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "term {} of {}", self.term, self.key)
    }
}

/// A condition of a [`Store::txn`], on what the writer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key still holds the object last written at this revision.
    ModRevision(ObjectKey, u64),
    /// The key holds nothing.
    Absent(ObjectKey),
    /// The writer still leads: the election key still exists with this term. When it does not,
    /// the txn is [`TxnOutcome::Fenced`] (whatever the other compares say).
    Leader(Fence),
}

impl Compare {
    /// The object the compare is on (none for [`Compare::Leader`]).
    pub fn key(&self) -> Option<&ObjectKey> {
        match self {
            Compare::ModRevision(key, _) | Compare::Absent(key) => Some(key),
            Compare::Leader(_) => None,
        }
    }

    /// Whether `current` (the stored object at the key, if any) satisfies this object compare
    /// (false for [`Compare::Leader`], which is on no object).
    pub fn holds(&self, current: Option<&AnyObject>) -> bool {
        match (self, current) {
            (Compare::Absent(_), None) => true,
            (Compare::ModRevision(_, revision), Some(object)) => {
                resource_version(object) == Some(*revision)
            }
            _ => false,
        }
    }
}

/// What a [`Store::txn`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Every write landed, at this one revision.
    Committed { revision: u64 },
    /// A compare did not hold: nothing was written.
    CompareFailed,
    /// The writer's [`Compare::Leader`] did not hold (another server leads now, or nobody):
    /// nothing was written, and staging again cannot help.
    Fenced,
}

/// What happened to one key in a committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn event_type(self) -> wasmpod_api::WatchEventType {
        match self {
            ChangeType::Added => wasmpod_api::WatchEventType::Added,
            ChangeType::Modified => wasmpod_api::WatchEventType::Modified,
            ChangeType::Deleted => wasmpod_api::WatchEventType::Deleted,
        }
    }
}

/// One key's change as the feed reports it.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub key: ObjectKey,
    pub change: ChangeType,
    /// The object as written, or as it was when deleted; its resourceVersion is the batch's.
    pub object: AnyObject,
}

/// What a store's change feed delivers, in revision order.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// Every change of one committed batch.
    Batch {
        revision: u64,
        events: Vec<FeedEvent>,
    },
    /// The feed lost its place (its next revision was compacted away) and resumed at `revision`:
    /// what happened in between is unknown, so readers must list again.
    Reset { revision: u64 },
}

/// Receives the feed's items; called from the store's own threads, one item at a time.
pub type FeedSink = Box<dyn FnMut(FeedItem) + Send>;

/// The durable object store. [`Store::txn`] makes a batch visible atomically; [`Store::flush`]
/// makes every batch committed before it durable (etcd: already at commit). Splitting the two
/// lets concurrent writers share one disk flush (group commit).
pub trait Store: Send + Sync + 'static {
    /// The object at `key`, its resourceVersion set to its mod revision.
    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError>;
    /// The objects at `keys`, in order (etcd: one round trip per transaction's worth of keys).
    fn get_many(&self, keys: &[ObjectKey]) -> Result<Vec<Option<AnyObject>>, StoreError> {
        keys.iter().map(|key| self.get(key)).collect()
    }
    /// Every object of `kind`, of one namespace or all, with the revision they were read at.
    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError>;
    /// The newest committed revision.
    fn revision(&self) -> Result<u64, StoreError>;
    /// If every compare holds, applies `writes` in order (`None` deletes; at most one write per
    /// key) as one batch at one new revision; otherwise writes nothing. A store without an
    /// election refuses a [`Compare::Leader`] with [`StoreError::NoElection`].
    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError>;
    /// Makes every batch committed before this call durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Starts delivering every batch committed after `revision` to `sink`, in revision order,
    /// until the store is dropped. `Ok(false)`: this store has no feed (only this process writes
    /// to it, so the registry publishes its own commits).
    fn follow(&self, revision: u64, sink: FeedSink) -> Result<bool, StoreError>;
    /// How many writes one [`Store::txn`] may carry (etcd refuses more than its `--max-txn-ops`).
    fn max_txn_ops(&self) -> usize {
        usize::MAX
    }
    /// A record of the control plane that is not an API object (node credentials), in a
    /// reserved range no API route, list or watch reaches, with its version.
    fn get_record(&self, name: &str) -> Result<Option<Record>, StoreError>;
    /// Writes record `name` if its version is still `expected` (`None`: it does not exist yet);
    /// false when it is not, and nothing was written.
    fn put_record(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<bool, StoreError>;
}

/// A reserved record and the version a conditional write of it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: Vec<u8>,
    pub version: u64,
}

/// Where reserved records live under the store's prefix: not a kind's plural, so no object
/// route, list, watch or feed event ever names them.
pub(crate) const RECORDS: &str = "_records/";

/// The key of an object in the store, under `prefix`.
pub(crate) fn key_bytes(prefix: &str, key: &ObjectKey) -> Vec<u8> {
    format!(
        "{prefix}{}/{}/{}",
        key.kind.plural(),
        key.namespace,
        key.name
    )
    .into_bytes()
}

/// The prefix of every object of `kind` (in `namespace`, for a namespaced kind).
pub(crate) fn prefix_bytes(prefix: &str, kind: Kind, namespace: Option<&str>) -> Vec<u8> {
    match namespace {
        Some(ns) if kind.namespaced() => format!("{prefix}{}/{}/", kind.plural(), ns).into_bytes(),
        _ => format!("{prefix}{}/", kind.plural()).into_bytes(),
    }
}

/// The object key a stored key (without the prefix) names, if it names one.
pub(crate) fn parse_key(rest: &[u8]) -> Option<ObjectKey> {
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.splitn(3, '/');
    let (plural, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
    let kind = Kind::from_plural(plural)?;
    Some(ObjectKey::new(kind, namespace, name))
}

/// `metadata.resourceVersion` as a number (clients may send it as a string, as Kubernetes does).
pub fn resource_version(object: &AnyObject) -> Option<u64> {
    match object.0.get("metadata")?.get("resourceVersion")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Sets `metadata.resourceVersion` to `revision`.
pub fn set_resource_version(object: &mut AnyObject, revision: u64) {
    if let Some(m) = object.0.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.insert("resourceVersion".into(), Value::from(revision));
    }
}

/// Checks that a batch writes each key at most once (etcd refuses a txn that does not).
pub(crate) fn distinct_keys(writes: &[(ObjectKey, Option<AnyObject>)]) -> bool {
    let mut seen = std::collections::HashSet::new();
    writes.iter().all(|(key, _)| seen.insert(key))
}
