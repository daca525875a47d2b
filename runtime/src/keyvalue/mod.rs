//! `wasi:keyvalue` (0.2.0-draft2: store, atomics, batch) for guests, over wasmpod's own backends.
//!
//! A pod is granted a set of store names ([`KeyValueGrants`]); `open` of any other name is refused
//! with `access-denied`, and a granted name with no store behind it (no KeyValueStore object)
//! gives `no-such-store`. Behind a granted name is a [`KeyValueStore`]: an embedded sled tree of
//! this process (`embedded.rs`) or a Redis keyspace shared by every node (`redis.rs`).
//! [`KeyValueBackends`] hands out stores and keeps one sled database and one Redis connection
//! manager per store per process, reused by every pod.
//!
//! Values written by `increment` are decimal ASCII text in both backends (Redis' `INCRBY` format).

mod backends;
mod embedded;
mod host;
mod redis;

pub use backends::{KeyValueBackends, StoreBackend};
pub(crate) use host::add_to_linker;
pub use host::KeyValueView;

use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest page `list-keys` returns.
pub(crate) const LIST_PAGE: usize = 1000;

/// What a backend operation failed with: shown to the guest as `error::other(..)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// One open store: cheap to clone, shared by every instance that opens it.
#[derive(Clone)]
pub enum KeyValueStore {
    Embedded(embedded::EmbeddedStore),
    Redis(redis::RedisStore),
}

impl std::fmt::Debug for KeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValueStore::Embedded(s) => write!(f, "Embedded({})", s.name()),
            KeyValueStore::Redis(s) => write!(f, "Redis({})", s.name()),
        }
    }
}

macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            KeyValueStore::Embedded($s) => $body,
            KeyValueStore::Redis($s) => $body,
        }
    };
}

impl KeyValueStore {
    /// Checks that the backend can be used (Redis: connects and authenticates once).
    pub async fn ready(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ready().await)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, s => s.get(key).await)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        dispatch!(self, s => s.set(key, value).await)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.delete(key).await)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        dispatch!(self, s => s.exists(key).await)
    }

    /// A page of keys after `cursor`, and the cursor of the next page if there is one.
    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        dispatch!(self, s => s.list_keys(cursor).await)
    }

    /// Adds `delta` to the integer at `key` (absent is 0), atomically; returns the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        dispatch!(self, s => s.increment(key, delta).await)
    }

    /// Writes `new` if `key` holds `expected` (`None`: is absent); false if it did not.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.compare_and_swap(key, expected, new).await)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        dispatch!(self, s => s.get_many(keys).await)
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_many(pairs).await)
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        dispatch!(self, s => s.delete_many(keys).await)
    }
}

/// What stands behind a store name a pod may open.
#[derive(Debug, Clone)]
pub enum Grant {
    /// A store the pod may use.
    Store(KeyValueStore),
    /// The pod lists the name but no store of that name is declared: `no-such-store`.
    Missing,
    /// The store is declared but cannot be used here (e.g. its Redis URL does not parse): every
    /// open fails with this message as `other(..)`.
    Unavailable(StoreError),
}

/// The store names a pod may open (`spec.keyValueStores`), each with what stands behind it.
/// Empty: every open is refused.
#[derive(Debug, Clone, Default)]
pub struct KeyValueGrants(BTreeMap<String, Grant>);

impl KeyValueGrants {
    pub fn new() -> KeyValueGrants {
        KeyValueGrants::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, grant: Grant) {
        self.0.insert(name.into(), grant);
    }

    pub fn get(&self, name: &str) -> Option<&Grant> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn into_shared(self) -> Arc<KeyValueGrants> {
        Arc::new(self)
    }
}

/// Parses a counter value as `increment` stores it.
pub(crate) fn parse_counter(key: &str, bytes: Option<&[u8]>) -> Result<i64, StoreError> {
    let Some(bytes) = bytes else { return Ok(0) };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .ok_or_else(|| StoreError(format!("key {key:?} does not hold an integer")))
}

#[cfg(test)]
mod tests;
