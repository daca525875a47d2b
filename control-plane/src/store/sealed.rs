//! Secrets encrypted at rest: a [`Store`] wrapper that seals every Secret with ChaCha20-Poly1305
//! (a fresh random nonce per write) before it reaches the inner store, and opens it on read.
//! Only the name and namespace stay readable, so listing works; values never touch the disk in
//! plain text.

use super::{
    resource_version, set_resource_version, Compare, Delegate, FeedItem, FeedSink, Store,
    StoreError, TxnOutcome,
};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

pub struct SealedSecrets<S> {
    inner: S,
    cipher: Arc<ChaCha20Poly1305>,
}

/// Reads the 32-byte key at `path`, creating it (mode 0600) on first start.
pub fn load_or_create_key(path: &Path) -> Result<[u8; 32], std::io::Error> {
    match std::fs::read(path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} must hold exactly 32 bytes", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            std::fs::write(path, key)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

impl<S: Store> SealedSecrets<S> {
    pub fn new(inner: S, key: &[u8; 32]) -> Self {
        SealedSecrets {
            inner,
            cipher: Arc::new(ChaCha20Poly1305::new(Key::from_slice(key))),
        }
    }

    /// The store under the seal (what is on disk or in etcd).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn seal(&self, key: &ObjectKey, object: &AnyObject) -> Result<AnyObject, StoreError> {
        let plain = serde_json::to_vec(object).map_err(|source| StoreError::Corrupt {
            key: key.to_string(),
            source,
        })?;
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
            .map_err(|_| StoreError::Sealing(key.to_string()))?;
        let mut blob = nonce.to_vec();
        blob.extend(sealed);
        Ok(AnyObject(json!({
            "kind": "Secret",
            "metadata": {"name": key.name, "namespace": key.namespace},
            "sealed": base64::engine::general_purpose::STANDARD.encode(blob),
        })))
    }

    fn open(&self, object: AnyObject) -> Result<AnyObject, StoreError> {
        open(&self.cipher, object)
    }
}

/// The Secret sealed in `object` (any other object as it is), with the resourceVersion the store
/// gave the sealed form.
fn open(cipher: &ChaCha20Poly1305, object: AnyObject) -> Result<AnyObject, StoreError> {
    let Some(sealed) = object.0.get("sealed").and_then(Value::as_str) else {
        return Ok(object);
    };
    let name = object.name().to_string();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| StoreError::Sealing(name.clone()))?;
    if blob.len() < 12 {
        return Err(StoreError::Sealing(name));
    }
    let (nonce, sealed) = blob.split_at(12);
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| StoreError::Sealing(name.clone()))?;
    let mut opened: AnyObject = serde_json::from_slice(&plain)
        .map_err(|source| StoreError::Corrupt { key: name, source })?;
    if let Some(revision) = resource_version(&object) {
        set_resource_version(&mut opened, revision);
    }
    Ok(opened)
}

impl<S: Store> Delegate for SealedSecrets<S> {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }
    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError> {
        self.inner.get(key)?.map(|o| self.open(o)).transpose()
    }

    fn get_many(&self, keys: &[ObjectKey]) -> Result<Vec<Option<AnyObject>>, StoreError> {
        self.inner
            .get_many(keys)?
            .into_iter()
            .map(|o| o.map(|o| self.open(o)).transpose())
            .collect()
    }

    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError> {
        let (items, revision) = self.inner.list(kind, namespace)?;
        let items = items
            .into_iter()
            .map(|o| self.open(o))
            .collect::<Result<_, _>>()?;
        Ok((items, revision))
    }

    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError> {
        let sealed = writes
            .iter()
            .map(|(key, object)| match object {
                Some(o) if key.kind == Kind::Secret => Ok((key.clone(), Some(self.seal(key, o)?))),
                _ => Ok((key.clone(), object.clone())),
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.inner.txn(compares, &sealed)
    }

    /// The inner feed, its Secrets opened (one that cannot be opened is logged and left out).
    fn follow(&self, revision: u64, mut sink: FeedSink) -> Result<bool, StoreError> {
        let cipher = self.cipher.clone();
        self.inner.follow(
            revision,
            Box::new(move |item| match item {
                FeedItem::Batch { revision, events } => {
                    let events = events
                        .into_iter()
                        .filter_map(|mut event| {
                            match open(&cipher, event.object) {
                                Ok(object) => event.object = object,
                                Err(error) => {
                                    tracing::error!(key = %event.key, %error, "cannot open a secret from the feed");
                                    return None;
                                }
                            }
                            Some(event)
                        })
                        .collect();
                    sink(FeedItem::Batch { revision, events })
                }
                reset @ FeedItem::Reset { .. } => sink(reset),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[test]
    fn secrets_are_sealed_on_disk_and_open_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let key = ObjectKey::new(Kind::Secret, "default", "token");
        let secret = AnyObject(
            json!({"kind": "Secret", "metadata": {"name": "token", "namespace": "default"},
            "data": {"token": "c3VwZXJzZWNyZXQtdmFsdWU="}}),
        );
        {
            let sealed =
                SealedSecrets::new(SledStore::open(&dir.path().join("db")).unwrap(), &[7; 32]);
            let store: &dyn Store = &sealed;
            store
                .txn(&[], &[(key.clone(), Some(secret.clone()))])
                .unwrap();
            let mut secret = secret.clone();
            crate::store::set_resource_version(&mut secret, 1);
            assert_eq!(store.get(&key).unwrap(), Some(secret.clone()));
            assert_eq!(
                store.list(Kind::Secret, None).unwrap().0,
                vec![secret.clone()]
            );
        }
        let raw = SledStore::open(&dir.path().join("db"))
            .unwrap()
            .get(&key)
            .unwrap()
            .unwrap();
        assert!(
            raw.0.get("data").is_none() && raw.0.get("sealed").is_some(),
            "{raw:?}"
        );
        let wrong = SealedSecrets::new(SledStore::open(&dir.path().join("db")).unwrap(), &[8; 32]);
        assert!(
            Store::get(&wrong, &key).is_err(),
            "another key cannot open it"
        );
    }
}
