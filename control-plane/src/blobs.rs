//! Content-addressed component store: `blobs/sha256/<hex>`, written atomically and fsynced.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("{0:?} is not a digest (expected sha256:<64 hex digits>)")]
    BadDigest(String),
    #[error("the bytes do not have the digest {expected} (they hash to {actual})")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob store I/O at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn open(dir: &Path) -> Result<BlobStore, BlobError> {
        let dir = dir.join("sha256");
        fs::create_dir_all(&dir).map_err(|source| BlobError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(BlobStore { dir })
    }

    /// The path of a stored blob, or an error if `digest` is malformed.
    pub fn path(&self, digest: &str) -> Result<PathBuf, BlobError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            })
            .ok_or_else(|| BlobError::BadDigest(digest.to_string()))?;
        Ok(self.dir.join(hex))
    }

    pub fn exists(&self, digest: &str) -> Result<bool, BlobError> {
        Ok(self.path(digest)?.is_file())
    }

    pub fn read(&self, digest: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(digest)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BlobError::Io { path, source }),
        }
    }

    /// The digest of `bytes`.
    pub fn digest_of(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    /// Stores `bytes` that must have `digest` (a copy from a peer: verified, never trusted).
    pub fn put_expecting(&self, digest: &str, bytes: &[u8]) -> Result<(), BlobError> {
        self.path(digest)?;
        let actual = Self::digest_of(bytes);
        if actual != digest {
            return Err(BlobError::DigestMismatch {
                expected: digest.to_string(),
                actual,
            });
        }
        self.put(bytes).map(|_| ())
    }

    /// Stores `bytes` and returns their digest; storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let digest = Self::digest_of(bytes);
        let path = self.path(&digest)?;
        if path.is_file() {
            return Ok(digest);
        }
        let io = |source| BlobError::Io {
            path: path.clone(),
            source,
        };
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_content_addressed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let digest = store.put(b"abc").unwrap();
        assert_eq!(
            digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(store.read(&digest).unwrap().unwrap(), b"abc");
        assert!(store.path("sha256:../../etc").is_err());
        assert!(store
            .read(&format!("sha256:{}", "0".repeat(64)))
            .unwrap()
            .is_none());
        let other = BlobStore::digest_of(b"abd");
        assert!(matches!(
            store.put_expecting(&other, b"abc"),
            Err(BlobError::DigestMismatch { .. })
        ));
        assert!(!store.exists(&other).unwrap());
        store.put_expecting(&digest, b"abc").unwrap();
    }
}
