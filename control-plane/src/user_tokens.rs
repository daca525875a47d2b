//! API tokens for people and tools (`wasmpod create token NAME --role edit --namespace dev`).
//!
//! As with node credentials (see [`crate::node_credentials`]), only each token's SHA-256 is kept,
//! with its role and namespace, as one record in the store's reserved range, so every API server
//! of a cluster shares them; no object route reads that record. Each server keeps a copy it reads
//! again when it is more than a second old (at once for an unknown token, at most every 100 ms),
//! so a token created or deleted through one server holds on every other within about a second.

use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use wasmpod_api::gateway_key::sha256_hex;
use wasmpod_api::tokens::{IssuedToken, Role, TokenInfo};

/// The name of the store record that holds every API token.
const RECORD: &str = "user-tokens";
/// How long a server trusts its copy before reading the record again.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How old a copy must be for an unknown token to read the record again.
const MISS_REREAD_AFTER: Duration = Duration::from_millis(100);
/// Conditional writes of the record before giving up (another server kept writing it).
const MAX_TRIES: usize = 16;

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("the API tokens record is corrupt: {0}")]
    Corrupt(#[source] serde_json::Error),
    #[error("cannot keep the API tokens in the store: {0}")]
    Store(#[from] StoreError),
    #[error("other servers kept changing the API tokens ({MAX_TRIES} tries)")]
    Contended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    token_sha256: String,
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    created: DateTime<Utc>,
}

/// Who a token is: its name, role and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub name: String,
    pub role: Role,
    /// The one namespace it may touch (`None`: every namespace).
    pub namespace: Option<String>,
}

#[derive(Default)]
struct Entries {
    by_name: BTreeMap<String, Entry>,
    /// token SHA-256 -> token name.
    by_token: HashMap<String, String>,
}

struct Copy {
    entries: Arc<Entries>,
    version: Option<u64>,
    read_at: Instant,
}

/// Whether [`UserTokens::create`] wrote a new token.
#[derive(Debug)]
pub enum Created {
    Issued(IssuedToken),
    /// The name is taken: delete the token first.
    NameTaken,
}

pub struct UserTokens {
    store: Arc<dyn Store>,
    copy: RwLock<Copy>,
}

impl UserTokens {
    pub fn open(store: Arc<dyn Store>) -> Result<UserTokens, TokenError> {
        let tokens = UserTokens {
            store,
            copy: RwLock::new(Copy {
                entries: Arc::default(),
                version: None,
                read_at: Instant::now(),
            }),
        };
        tokens.reread()?;
        Ok(tokens)
    }

    fn reread(&self) -> Result<Arc<Entries>, TokenError> {
        let (by_name, version) = match self.store.get_record(RECORD)? {
            Some(record) => (
                serde_json::from_slice::<BTreeMap<String, Entry>>(&record.value)
                    .map_err(TokenError::Corrupt)?,
                Some(record.version),
            ),
            None => (BTreeMap::new(), None),
        };
        let by_token = by_name
            .iter()
            .map(|(name, e)| (e.token_sha256.clone(), name.clone()))
            .collect();
        let entries = Arc::new(Entries { by_name, by_token });
        *self.copy.write().unwrap_or_else(|p| p.into_inner()) = Copy {
            entries: entries.clone(),
            version,
            read_at: Instant::now(),
        };
        Ok(entries)
    }

    /// The tokens, read again when the copy is older than `max_age`; the last copy serves
    /// (logged) when the store cannot be read.
    fn entries(&self, max_age: Duration) -> Arc<Entries> {
        {
            let copy = self.copy.read().unwrap_or_else(|p| p.into_inner());
            if copy.read_at.elapsed() < max_age {
                return copy.entries.clone();
            }
        }
        self.reread().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the API tokens; using the last copy");
            self.copy
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .entries
                .clone()
        })
    }

    /// Who `token` is, if it is an API token.
    pub fn holder_of(&self, token: &str) -> Option<TokenHolder> {
        let hash = sha256_hex(token);
        let find = |entries: &Entries| {
            let name = entries.by_token.get(&hash)?;
            let entry = entries.by_name.get(name)?;
            Some(TokenHolder {
                name: name.clone(),
                role: entry.role,
                namespace: entry.namespace.clone(),
            })
        };
        find(&self.entries(FRESH_FOR)).or_else(|| find(&self.entries(MISS_REREAD_AFTER)))
    }

    /// Every token, by name (never its secret).
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self
            .reread()?
            .by_name
            .iter()
            .map(|(name, e)| info(name, e))
            .collect())
    }

    /// Creates token `name`; its secret is in the answer and nowhere else.
    pub fn create(
        &self,
        name: &str,
        role: Role,
        namespace: Option<&str>,
    ) -> Result<Created, TokenError> {
        let token = format!("wpt_{}", hex::encode(rand::random::<[u8; 32]>()));
        let entry = Entry {
            token_sha256: sha256_hex(&token),
            role,
            namespace: namespace.map(str::to_string),
            created: Utc::now(),
        };
        let written = self.update(|by_name| {
            if by_name.contains_key(name) {
                return false;
            }
            by_name.insert(name.to_string(), entry.clone());
            true
        })?;
        Ok(if written {
            Created::Issued(IssuedToken {
                info: info(name, &entry),
                token,
            })
        } else {
            Created::NameTaken
        })
    }

    /// Deletes token `name` (it stops working); false when there is none.
    pub fn delete(&self, name: &str) -> Result<bool, TokenError> {
        self.update(|by_name| by_name.remove(name).is_some())
    }

    /// Reads the record, lets `change` edit it (false: nothing to write) and writes it back on
    /// condition that no server wrote it in between; reads again if one did.
    fn update(
        &self,
        mut change: impl FnMut(&mut BTreeMap<String, Entry>) -> bool,
    ) -> Result<bool, TokenError> {
        for _ in 0..MAX_TRIES {
            self.reread()?;
            let (mut by_name, version) = {
                let copy = self.copy.read().unwrap_or_else(|p| p.into_inner());
                (copy.entries.by_name.clone(), copy.version)
            };
            if !change(&mut by_name) {
                return Ok(false);
            }
            let value = serde_json::to_vec(&by_name).map_err(TokenError::Corrupt)?;
            if self.store.put_record(RECORD, &value, version)? {
                self.reread()?;
                return Ok(true);
            }
        }
        Err(TokenError::Contended)
    }
}

fn info(name: &str, entry: &Entry) -> TokenInfo {
    TokenInfo {
        name: name.to_string(),
        role: entry.role,
        namespace: entry.namespace.clone(),
        created: entry.created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[test]
    fn tokens_are_stored_hashed_shared_and_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let tokens = UserTokens::open(store.clone()).expect("open");
        let Created::Issued(ci) = tokens
            .create("ci", Role::Edit, Some("dev"))
            .expect("create")
        else {
            panic!("a new name is issued");
        };
        let holder = tokens.holder_of(&ci.token).expect("known");
        assert_eq!(
            holder,
            TokenHolder {
                name: "ci".into(),
                role: Role::Edit,
                namespace: Some("dev".into())
            }
        );
        assert!(tokens.holder_of("wpt_guess").is_none());
        assert!(matches!(
            tokens.create("ci", Role::Admin, None).expect("create"),
            Created::NameTaken
        ));
        let record = store.get_record(RECORD).expect("read").expect("saved");
        assert!(
            !String::from_utf8_lossy(&record.value).contains(&ci.token),
            "only the hash is stored"
        );
        // Another server on the same store sees it, and its delete holds here within a second.
        let other = UserTokens::open(store).expect("reopen");
        assert_eq!(other.holder_of(&ci.token), Some(holder));
        assert_eq!(other.list().expect("list")[0].name, "ci");
        assert!(other.delete("ci").expect("delete"));
        assert!(!other.delete("ci").expect("delete"));
        std::thread::sleep(FRESH_FOR + Duration::from_millis(50));
        assert!(tokens.holder_of(&ci.token).is_none(), "deleted everywhere");
    }
}
