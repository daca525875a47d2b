use super::{
    distinct_keys, key_bytes, prefix_bytes, set_resource_version, Compare, FeedSink, Record, Store,
    StoreError, TxnOutcome, RECORDS,
};
use std::path::Path;
use std::sync::Mutex;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

const REVISION_KEY: &[u8] = b"\x00revision";

/// Objects in one sled tree, keyed `plural/namespace/name`, JSON values; the revision lives in
/// the same tree so a batch and its revision land together. One process owns the database (sled
/// locks it), so a mutex makes each conditional batch atomic.
pub struct SledStore {
    db: sled::Db,
    objects: sled::Tree,
    txn_lock: Mutex<()>,
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
        Ok(SledStore {
            db,
            objects,
            txn_lock: Mutex::new(()),
        })
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
        let k = key_bytes("", key);
        self.objects.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError> {
        let revision = self.revision()?;
        let mut items = Vec::new();
        for entry in self.objects.scan_prefix(prefix_bytes("", kind, namespace)) {
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

    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError> {
        debug_assert!(distinct_keys(writes), "a batch writes each key once");
        let _txn = self.txn_lock.lock().unwrap_or_else(|p| p.into_inner());
        for compare in compares {
            let key = match compare {
                // One server on its own database always leads: a fence here is a caller's
                // mistake, refused rather than ignored.
                Compare::Leader(fence) => return Err(StoreError::NoElection(fence.clone())),
                Compare::ModRevision(key, _) | Compare::Absent(key) => key,
            };
            if !compare.holds(self.get(key)?.as_ref()) {
                return Ok(TxnOutcome::CompareFailed);
            }
        }
        let revision = self.revision()? + 1;
        let mut batch = sled::Batch::default();
        for (key, object) in writes {
            match object {
                Some(object) => {
                    let mut object = object.clone();
                    set_resource_version(&mut object, revision);
                    let value =
                        serde_json::to_vec(&object).map_err(|source| StoreError::Corrupt {
                            key: key.to_string(),
                            source,
                        })?;
                    batch.insert(key_bytes("", key), value);
                }
                None => batch.remove(key_bytes("", key)),
            }
        }
        batch.insert(REVISION_KEY, &revision.to_be_bytes());
        self.objects.apply_batch(batch)?;
        Ok(TxnOutcome::Committed { revision })
    }

    /// sled makes everything written before the call stable; concurrent callers share the work.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Only this process writes to a sled database: no feed, the registry publishes its commits.
    fn follow(&self, _revision: u64, _sink: FeedSink) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// A record is stored as its 8-byte version, then its value.
    fn get_record(&self, name: &str) -> Result<Option<Record>, StoreError> {
        let stored = self.objects.get(format!("{RECORDS}{name}"))?;
        Ok(stored.and_then(|bytes| {
            let (version, value) = bytes.split_at_checked(8)?;
            Some(Record {
                value: value.to_vec(),
                version: u64::from_be_bytes(<[u8; 8]>::try_from(version).ok()?),
            })
        }))
    }

    fn put_record(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let _txn = self.txn_lock.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.get_record(name)?.map(|r| r.version);
        if current != expected {
            return Ok(false);
        }
        let mut bytes = (current.unwrap_or(0) + 1).to_be_bytes().to_vec();
        bytes.extend_from_slice(value);
        self.objects.insert(format!("{RECORDS}{name}"), bytes)?;
        self.db.flush()?;
        Ok(true)
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
            let outcome = store
                .txn(&[], &[(key.clone(), Some(object.clone()))])
                .unwrap();
            assert_eq!(outcome, TxnOutcome::Committed { revision: 1 });
            store.flush().unwrap();
        }
        // sled's flusher thread may hold the directory's lock a moment after the drop.
        let reopened = std::time::Instant::now();
        let store = loop {
            match SledStore::open(dir.path()) {
                Ok(store) => break store,
                Err(e) if reopened.elapsed() < std::time::Duration::from_secs(10) => {
                    assert!(e.to_string().contains("lock"), "{e}");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        };
        assert_eq!(store.revision().unwrap(), 1);
        let mut stamped = object;
        set_resource_version(&mut stamped, 1);
        assert_eq!(store.get(&key).unwrap(), Some(stamped));
        let (items, rev) = store.list(Kind::Service, Some("default")).unwrap();
        assert_eq!((items.len(), rev), (1, 1));
        assert!(store.list(Kind::Pod, None).unwrap().0.is_empty());
    }

    #[test]
    fn a_fenced_write_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let key = ObjectKey::new(Kind::Service, "default", "a");
        let object = AnyObject(json!({"kind": "Service", "metadata": {"name": "a"}}));
        let fence = super::super::Fence {
            key: "/wasmpod/leader/controllers".into(),
            term: 7,
        };
        let refused = store.txn(
            &[Compare::Leader(fence.clone())],
            &[(key.clone(), Some(object))],
        );
        assert!(
            matches!(&refused, Err(StoreError::NoElection(f)) if *f == fence),
            "{refused:?}"
        );
        assert_eq!(store.get(&key).unwrap(), None);
        assert_eq!(store.revision().unwrap(), 0);
    }
}
