//! The embedded backend: one sled tree per namespace and store in a database of this process
//! (`<node data dir>/keyvalue`). Durable (every write is flushed before it is acknowledged),
//! shared by the pods of this process, not by other processes or nodes.

use super::{parse_counter, StoreError, LIST_PAGE};
use sled::transaction::ConflictableTransactionError;

#[derive(Clone)]
pub struct EmbeddedStore {
    name: String,
    tree: sled::Tree,
}

fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("embedded store: {what}: {e}"))
}

impl EmbeddedStore {
    pub(crate) fn new(name: String, tree: sled::Tree) -> EmbeddedStore {
        EmbeddedStore { name, tree }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.tree
            .flush_async()
            .await
            .map(drop)
            .map_err(|e| failed("flush", e))
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| failed("get", e))
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(key, value).map_err(|e| failed("set", e))?;
        self.flush().await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.tree.remove(key).map_err(|e| failed("delete", e))?;
        self.flush().await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.tree.contains_key(key).map_err(|e| failed("exists", e))
    }

    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let range = match &cursor {
            Some(after) => self.tree.range::<&[u8], _>((
                std::ops::Bound::Excluded(after.as_bytes()),
                std::ops::Bound::Unbounded,
            )),
            None => self.tree.iter(),
        };
        let mut keys = Vec::new();
        for entry in range.keys() {
            let key = entry.map_err(|e| failed("list-keys", e))?;
            if keys.len() == LIST_PAGE {
                let next = keys.last().cloned();
                return Ok((keys, next));
            }
            keys.push(String::from_utf8_lossy(&key).into_owned());
        }
        Ok((keys, None))
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let result = self.tree.transaction(|tx| {
            let current = tx.get(key)?;
            let value = parse_counter(key, current.as_deref())
                .and_then(|n| {
                    n.checked_add(delta)
                        .ok_or_else(|| StoreError(format!("key {key:?}: {n} + {delta} overflows")))
                })
                .map_err(ConflictableTransactionError::Abort)?;
            tx.insert(key, value.to_string().as_bytes())?;
            Ok(value)
        });
        let value = result.map_err(|e| match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => failed("increment", e),
        })?;
        self.flush().await?;
        Ok(value)
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let swapped = self
            .tree
            .compare_and_swap(key, expected, Some(new))
            .map_err(|e| failed("compare-and-swap", e))?
            .is_ok();
        if swapped {
            self.flush().await?;
        }
        Ok(swapped)
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, value) in pairs {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| failed("set-many", e))?;
        self.flush().await
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key.as_bytes());
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| failed("delete-many", e))?;
        self.flush().await
    }
}
