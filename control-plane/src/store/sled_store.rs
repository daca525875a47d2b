use super::{key_bytes, prefix_bytes, Store, StoreError};
use std::path::Path;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

const REVISION_KEY: &[u8] = b"\x00revision";

/// Objects in one sled tree, keyed `plural/namespace/name`, JSON values; the revision lives in
/// the same tree so a batch and its revision land together.
pub struct SledStore {
    db: sled::Db,
    objects: sled::Tree,
}

/// Creates the store's directory readable by its owner only (0700): it holds every object.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(sled::Error::Io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(sled::Error::Io)?;
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(sled::Error::Io)?;
    Ok(())
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        private_dir(dir)?;
        // The page cache defaults to 1 GiB; the registry reads whole kinds at a time anyway.
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(64 << 20)
            .open()?;
        let objects = db.open_tree("objects")?;
        Ok(SledStore { db, objects })
    }

    /// The database handle, for other trees of the control plane (secrets keys, tokens ...).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

fn decode(key: &[u8], value: &[u8]) -> Result<AnyObject, StoreError> {
    serde_json::from_slice(value).map_err(|source| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

impl Store for SledStore {
    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError> {
        let k = key_bytes(key);
        self.objects.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError> {
        let revision = self.revision()?;
        let mut items = Vec::new();
        for entry in self.objects.scan_prefix(prefix_bytes(kind, namespace)) {
            let (k, v) = entry?;
            items.push(decode(&k, &v)?);
        }
        Ok((items, revision))
    }

    fn revision(&self) -> Result<u64, StoreError> {
        Ok(self
            .objects
            .get(REVISION_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    fn apply(
        &self,
        revision: u64,
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, object) in writes {
            match object {
                Some(object) => {
                    let value =
                        serde_json::to_vec(object).map_err(|source| StoreError::Corrupt {
                            key: key.to_string(),
                            source,
                        })?;
                    batch.insert(key_bytes(key), value);
                }
                None => batch.remove(key_bytes(key)),
            }
        }
        batch.insert(REVISION_KEY, &revision.to_be_bytes());
        self.objects.apply_batch(batch)?;
        Ok(())
    }

    /// sled makes everything written before the call stable; concurrent callers share the work.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn committed_objects_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = ObjectKey::new(Kind::Service, "default", "a");
        let object = AnyObject(json!({"kind": "Service", "metadata": {"name": "a"}}));
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .commit(7, &[(key.clone(), Some(object.clone()))])
                .unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.revision().unwrap(), 7);
        assert_eq!(store.get(&key).unwrap(), Some(object));
        let (items, rev) = store.list(Kind::Service, Some("default")).unwrap();
        assert_eq!((items.len(), rev), (1, 7));
        assert!(store.list(Kind::Pod, None).unwrap().0.is_empty());
    }
}
