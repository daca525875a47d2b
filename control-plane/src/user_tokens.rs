//! API tokens for people and tools (`wasmpod create token NAME --role edit --namespace dev`).
//!
//! As with node credentials (see [`crate::node_credentials`]), only each token's SHA-256 is kept,
//! with its role and namespace, as one record in the store's reserved range, so every API server
//! of a cluster shares them; no object route reads that record. Each server keeps a copy it reads
//! again when it is more than a second old (at once for an unknown token, at most every 100 ms),
//! so a token created or deleted through one server holds on every other within about a second.

use crate::store::{Store, StoreError};
use crate::token_record::{RecordError, TokenEntry, TokenRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;
use wasmpod_api::gateway_key::sha256_hex;
use wasmpod_api::tokens::{IssuedToken, Role, TokenInfo};

/// The name of the store record that holds every API token.
const RECORD: &str = "user-tokens";

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("cannot keep the API tokens in the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] RecordError),
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

impl TokenEntry for Entry {
    fn token_sha256(&self) -> &str {
        &self.token_sha256
    }
}

/// Who a token is: its name, role and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub name: String,
    pub role: Role,
    /// The one namespace it may touch (`None`: every namespace).
    pub namespace: Option<String>,
}

/// Whether [`UserTokens::create`] wrote a new token.
#[derive(Debug)]
pub enum Created {
    Issued(IssuedToken),
    /// The name is taken: delete the token first.
    NameTaken,
}

pub struct UserTokens {
    record: TokenRecord<Entry>,
}

impl UserTokens {
    pub fn open(store: Arc<dyn Store>) -> Result<UserTokens, TokenError> {
        Ok(UserTokens {
            record: TokenRecord::open(store, RECORD)?,
        })
    }

    /// Who `token` is, if it is an API token.
    pub fn holder_of(&self, token: &str) -> Option<TokenHolder> {
        self.record.find(token).map(|(name, entry)| TokenHolder {
            name,
            role: entry.role,
            namespace: entry.namespace,
        })
    }

    /// Every token, by name (never its secret).
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self
            .record
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
        let written = self.record.update(|by_name| {
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
        Ok(self
            .record
            .update(|by_name| by_name.remove(name).is_some())?)
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
        std::thread::sleep(crate::token_record::FRESH_FOR + std::time::Duration::from_millis(50));
        assert!(tokens.holder_of(&ci.token).is_none(), "deleted everywhere");
    }
}
