//! The embedded backend: one sled tree per namespace and store in a database of this process
//! (`<node data dir>/keyvalue`). Durable (every write is flushed before it is acknowledged),
//! shared by the pods of this process, not by other processes or nodes.
//!
//! Every sled call runs on tokio's blocking pool, never on the thread that serves requests (a
//! flush waits for the disk), and `increment` is a compare-and-swap loop rather than a sled
//! transaction (sled 0.34's transactions deadlocked against concurrent flushes under load).

use super::{parse_counter, StoreError, LIST_PAGE};

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

    /// Runs `op` on the blocking pool with this store's tree.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&sled::Tree) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let tree = self.tree.clone();
        tokio::task::spawn_blocking(move || op(&tree))
            .await
            .map_err(|e| failed("task", e))?
    }

    /// Runs the write `op`, then flushes the tree to disk, on the blocking pool.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&sled::Tree) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(move |tree| {
            let value = op(tree)?;
            tree.flush().map_err(|e| failed("flush", e))?;
            Ok(value)
        })
        .await
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        self.blocking(move |tree| {
            tree.get(key)
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(|e| failed("get", e))
        })
        .await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.write(move |tree| {
            tree.insert(key, value)
                .map(drop)
                .map_err(|e| failed("set", e))
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.write(move |tree| tree.remove(key).map(drop).map_err(|e| failed("delete", e)))
            .await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let key = key.to_string();
        self.blocking(move |tree| tree.contains_key(key).map_err(|e| failed("exists", e)))
            .await
    }

    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        self.blocking(move |tree| {
            let range = match &cursor {
                Some(after) => tree.range::<&[u8], _>((
                    std::ops::Bound::Excluded(after.as_bytes()),
                    std::ops::Bound::Unbounded,
                )),
                None => tree.iter(),
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
        })
        .await
    }

    /// Reads the value, adds `delta` and swaps the result in if the value is still the one read;
    /// else reads again.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let key = key.to_string();
        self.write(move |tree| loop {
            let current = tree.get(&key).map_err(|e| failed("increment", e))?;
            let n = parse_counter(&key, current.as_deref())?;
            let value = n
                .checked_add(delta)
                .ok_or_else(|| StoreError(format!("key {key:?}: {n} + {delta} overflows")))?;
            let swapped = tree
                .compare_and_swap(&key, current, Some(value.to_string().as_bytes()))
                .map_err(|e| failed("increment", e))?;
            if swapped.is_ok() {
                return Ok(value);
            }
        })
        .await
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let (key, expected, new) = (key.to_string(), expected.map(<[u8]>::to_vec), new.to_vec());
        self.write(move |tree| {
            tree.compare_and_swap(key, expected, Some(new))
                .map(|swapped| swapped.is_ok())
                .map_err(|e| failed("compare-and-swap", e))
        })
        .await
    }

    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys = keys.to_vec();
        self.blocking(move |tree| {
            keys.iter()
                .map(|key| {
                    tree.get(key)
                        .map(|v| v.map(|v| v.to_vec()))
                        .map_err(|e| failed("get-many", e))
                })
                .collect()
        })
        .await
    }

    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, value) in pairs {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        self.write(move |tree| tree.apply_batch(batch).map_err(|e| failed("set-many", e)))
            .await
    }

    pub async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key.as_bytes());
        }
        self.write(move |tree| {
            tree.apply_batch(batch)
                .map_err(|e| failed("delete-many", e))
        })
        .await
    }
}
