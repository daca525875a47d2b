//! Persistence of objects behind a trait, so sled (the default) and etcd (later) are interchangeable.
//! The store keeps a monotonically increasing revision; every object carries the revision of its
//! last write as `metadata.resourceVersion`.

mod sealed;
mod sled_store;

pub use sealed::{load_or_create_key, SealedSecrets};
pub use sled_store::SledStore;

use thiserror::Error;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
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
}

/// The durable object store. [`Store::apply`] makes a batch visible atomically; [`Store::flush`]
/// makes every batch applied before it durable. Splitting the two lets concurrent writers share
/// one disk flush (group commit); the caller serialises `apply` calls.
pub trait Store: Send + Sync + 'static {
    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError>;
    /// Every object of `kind`, of one namespace or all, with the revision they were read at.
    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError>;
    fn revision(&self) -> Result<u64, StoreError>;
    /// Applies `writes` in order (`None` deletes) atomically, recording `revision` as the
    /// store's revision. Readers see it at once; it is durable after the next [`Store::flush`].
    fn apply(
        &self,
        revision: u64,
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<(), StoreError>;
    /// Makes every batch applied before this call durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// [`Store::apply`], then [`Store::flush`].
    fn commit(
        &self,
        revision: u64,
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<(), StoreError> {
        self.apply(revision, writes)?;
        self.flush()
    }
}

pub(crate) fn key_bytes(key: &ObjectKey) -> Vec<u8> {
    format!("{}/{}/{}", key.kind.plural(), key.namespace, key.name).into_bytes()
}

pub(crate) fn prefix_bytes(kind: Kind, namespace: Option<&str>) -> Vec<u8> {
    match namespace {
        Some(ns) if kind.namespaced() => format!("{}/{}/", kind.plural(), ns).into_bytes(),
        _ => format!("{}/", kind.plural()).into_bytes(),
    }
}
