//! A store record of bearer tokens by name, shared by every API server of a cluster: the node
//! credentials and the API tokens. Only each token's SHA-256 is kept. The record lives in the
//! store's reserved range (no route lists, reads or writes it). Each server keeps a copy that it
//! reads again when the copy is older than asked, so a token issued or revoked through one server
//! holds on every other within about a second; changes are conditional writes on the version
//! read, made again when another server wrote in between.

use crate::store::{Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use wasmpod_api::gateway_key::sha256_hex;

/// How long a server trusts its copy before reading the record again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// How old a copy must be for an unknown token to read the record again (it may have been
/// issued through another server a moment ago).
const MISS_REREAD_AFTER: Duration = Duration::from_millis(100);
/// Conditional writes of the record before giving up (another server kept writing it).
pub const MAX_TRIES: usize = 16;

/// One named token as the record keeps it.
pub trait TokenEntry: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The SHA-256 (hex) of the token.
    fn token_sha256(&self) -> &str;
}

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("the {record} record in the store is corrupt: {source}")]
    Corrupt {
        record: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot keep the {record} in the store: {source}")]
    Store {
        record: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("other servers kept changing the {record} ({MAX_TRIES} tries)")]
    Contended { record: &'static str },
}

/// The tokens of the record, by name and by token hash.
pub struct Entries<E> {
    pub by_name: BTreeMap<String, E>,
    /// token SHA-256 -> name.
    by_token: HashMap<String, String>,
}

impl<E> Default for Entries<E> {
    fn default() -> Self {
        Entries {
            by_name: BTreeMap::new(),
            by_token: HashMap::new(),
        }
    }
}

impl<E: TokenEntry> Entries<E> {
    fn new(by_name: BTreeMap<String, E>) -> Entries<E> {
        let by_token = by_name
            .iter()
            .map(|(name, e)| (e.token_sha256().to_string(), name.clone()))
            .collect();
        Entries { by_name, by_token }
    }

    /// The name and entry of the token whose SHA-256 is `hash`.
    fn by_hash(&self, hash: &str) -> Option<(&String, &E)> {
        let name = self.by_token.get(hash)?;
        Some((name, self.by_name.get(name)?))
    }
}

/// This server's copy of the record.
struct Copy<E> {
    entries: Arc<Entries<E>>,
    /// The record's version (`None`: no record yet).
    version: Option<u64>,
    read_at: Instant,
}

pub struct TokenRecord<E> {
    store: Arc<dyn Store>,
    record: &'static str,
    copy: RwLock<Copy<E>>,
}

impl<E: TokenEntry> TokenRecord<E> {
    /// The record `record` of `store`, read once.
    pub fn open(store: Arc<dyn Store>, record: &'static str) -> Result<Self, RecordError> {
        let tokens = TokenRecord {
            store,
            record,
            copy: RwLock::new(Copy {
                entries: Arc::default(),
                version: None,
                read_at: Instant::now(),
            }),
        };
        tokens.reread()?;
        Ok(tokens)
    }

    fn store_error(&self, source: StoreError) -> RecordError {
        RecordError::Store {
            record: self.record,
            source,
        }
    }

    /// Reads the record again into this server's copy.
    pub fn reread(&self) -> Result<Arc<Entries<E>>, RecordError> {
        let record = self
            .store
            .get_record(self.record)
            .map_err(|e| self.store_error(e))?;
        let (entries, version) = match record {
            Some(record) => (
                Entries::new(serde_json::from_slice(&record.value).map_err(|source| {
                    RecordError::Corrupt {
                        record: self.record,
                        source,
                    }
                })?),
                Some(record.version),
            ),
            None => (Entries::default(), None),
        };
        let entries = Arc::new(entries);
        *self.copy.write().unwrap_or_else(|p| p.into_inner()) = Copy {
            entries: entries.clone(),
            version,
            read_at: Instant::now(),
        };
        Ok(entries)
    }

    /// The tokens, read again when the copy is older than `max_age`. If the store cannot be
    /// read, the last copy serves (logged): tokens keep working through a store outage.
    pub fn current(&self, max_age: Duration) -> Arc<Entries<E>> {
        {
            let copy = self.copy.read().unwrap_or_else(|p| p.into_inner());
            if copy.read_at.elapsed() < max_age {
                return copy.entries.clone();
            }
        }
        self.reread().unwrap_or_else(|error| {
            tracing::warn!(record = self.record, %error, "cannot read the record; using the last copy");
            self.copy
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .entries
                .clone()
        })
    }

    /// The name and entry `token` is, if it is one of the record's.
    pub fn find(&self, token: &str) -> Option<(String, E)> {
        let hash = sha256_hex(token);
        let found = |entries: &Entries<E>| {
            entries
                .by_hash(&hash)
                .map(|(name, entry)| (name.clone(), entry.clone()))
        };
        found(&self.current(FRESH_FOR)).or_else(|| found(&self.current(MISS_REREAD_AFTER)))
    }

    /// Reads the record, lets `change` edit it (false: nothing to write) and writes it back on
    /// condition that no server wrote it in between; reads again if one did.
    pub fn update(
        &self,
        mut change: impl FnMut(&mut BTreeMap<String, E>) -> bool,
    ) -> Result<bool, RecordError> {
        for _ in 0..MAX_TRIES {
            self.reread()?;
            let (mut by_name, version) = {
                let copy = self.copy.read().unwrap_or_else(|p| p.into_inner());
                (copy.entries.by_name.clone(), copy.version)
            };
            if !change(&mut by_name) {
                return Ok(false);
            }
            let value = serde_json::to_vec(&by_name).map_err(|source| RecordError::Corrupt {
                record: self.record,
                source,
            })?;
            if self
                .store
                .put_record(self.record, &value, version)
                .map_err(|e| self.store_error(e))?
            {
                self.reread()?;
                return Ok(true);
            }
        }
        Err(RecordError::Contended {
            record: self.record,
        })
    }
}
