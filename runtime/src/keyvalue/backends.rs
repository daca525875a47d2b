//! The stores of one process: the embedded sled database (opened at the first embedded store)
//! and one Redis connection per declared Redis store, reused by every pod that names it.

use super::embedded::EmbeddedStore;
use super::redis::{RedisConnection, RedisStore};
use super::{KeyValueStore, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How a declared store keeps its data (the resolved `spec` of a KeyValueStore).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// A sled tree in this process' database.
    Embedded,
    /// A Redis server; `password` (from the store's Secret) overrides one in the URL.
    Redis {
        url: String,
        password: Option<String>,
    },
}

impl std::fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreBackend::Embedded => f.write_str("Embedded"),
            StoreBackend::Redis { url, password } => f
                .debug_struct("Redis")
                .field("url", url)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

#[derive(PartialEq, Eq, Hash)]
struct StoreKey {
    namespace: String,
    name: String,
}

/// Hands out [`KeyValueStore`]s; one per process (a node), cheap to share behind an `Arc`.
pub struct KeyValueBackends {
    dir: PathBuf,
    embedded: Mutex<Option<sled::Db>>,
    redis: Mutex<HashMap<StoreKey, (StoreBackend, Arc<RedisConnection>)>>,
}

impl KeyValueBackends {
    /// Backends whose embedded database lives in `dir` (created when first needed).
    pub fn new(dir: impl Into<PathBuf>) -> KeyValueBackends {
        KeyValueBackends {
            dir: dir.into(),
            embedded: Mutex::new(None),
            redis: Mutex::new(HashMap::new()),
        }
    }

    fn embedded_db(&self) -> Result<sled::Db, StoreError> {
        let mut slot = self
            .embedded
            .lock()
            .map_err(|_| StoreError("embedded store: lock poisoned".into()))?;
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        let db = sled::open(&self.dir).map_err(|e| {
            StoreError(format!(
                "embedded store: cannot open {}: {e}",
                self.dir.display()
            ))
        })?;
        *slot = Some(db.clone());
        Ok(db)
    }

    /// The store `name` of `namespace` with `backend`. Redis connects lazily (at the first
    /// `open`); a changed URL or password replaces the store's connection.
    pub fn store(
        &self,
        namespace: &str,
        name: &str,
        backend: &StoreBackend,
    ) -> Result<KeyValueStore, StoreError> {
        match backend {
            StoreBackend::Embedded => {
                let tree = self
                    .embedded_db()?
                    .open_tree(format!("{namespace}/{name}"))
                    .map_err(|e| StoreError(format!("embedded store: {e}")))?;
                Ok(KeyValueStore::Embedded(EmbeddedStore::new(
                    format!("{namespace}/{name}"),
                    tree,
                )))
            }
            StoreBackend::Redis { url, password } => {
                let key = StoreKey {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                };
                let mut map = self
                    .redis
                    .lock()
                    .map_err(|_| StoreError("redis stores: lock poisoned".into()))?;
                let connection = match map.get(&key) {
                    Some((known, connection)) if known == backend => connection.clone(),
                    _ => {
                        let connection = Arc::new(RedisConnection::new(url, password.as_deref())?);
                        map.insert(key, (backend.clone(), connection.clone()));
                        connection
                    }
                };
                Ok(KeyValueStore::Redis(RedisStore::new(
                    namespace, name, connection,
                )))
            }
        }
    }
}
