//! Where this node keeps things on disk, and the rules for turning names into paths there.
//!
//! - `<data dir>/` (0700): components, compile cache, `pods/<uid>/` (emptyDirs, ConfigMap files),
//!   `volumes/<namespace>/<claim>-<uid>/` (claims).
//! - the secret root (0700 all the way down, files 0600): `/dev/shm/wasmpod-<hash of the data
//!   dir>/<pod uid>/` where `/dev/shm` is a tmpfs, else `<data dir>/secrets/`. It belongs to
//!   this node alone, so the node can remove all of it at start and at shutdown.
//!
//! Every name that becomes a path segment is checked again here (the API checks it first):
//! a namespace or name that is not a DNS-1123 label, or a key that is not a ConfigMap key, is
//! refused, never joined; and a created directory must resolve inside its root.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;
use wasmpod_api::name::{validate_data_key, validate_label, validate_namespace};

#[derive(Debug, Error)]
pub enum DirError {
    #[error("refusing {what} {value:?} as a path on this node: {reason}")]
    BadSegment {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{} resolves to {}, outside {}", path.display(), resolved.display(), root.display())]
    Escapes {
        path: PathBuf,
        resolved: PathBuf,
        root: PathBuf,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DirError + '_ {
    move |source| DirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A name checked to be safe as one path segment.
#[derive(Debug, Clone, Copy)]
pub enum Segment<'a> {
    Namespace(&'a str),
    /// A pod's or claim's name or uid, or a volume name: DNS-1123 labels.
    Label(&'static str, &'a str),
    /// A ConfigMap or Secret key: a file name.
    DataKey(&'a str),
}

impl<'a> Segment<'a> {
    pub fn check(self) -> Result<&'a str, DirError> {
        let (what, value, checked) = match self {
            Segment::Namespace(v) => ("namespace", v, validate_namespace(v)),
            Segment::Label(what, v) => (what, v, validate_label(v)),
            Segment::DataKey(v) => ("key", v, validate_data_key(v)),
        };
        checked
            .map(|()| value)
            .map_err(|reason| DirError::BadSegment {
                what,
                value: value.to_string(),
                reason,
            })
    }
}

/// This node's directories.
#[derive(Debug, Clone)]
pub struct NodeDirs {
    data_dir: PathBuf,
    secret_root: PathBuf,
}

impl NodeDirs {
    /// Creates the data directory (0700) and works out the secret root (not created yet).
    pub fn create(data_dir: &Path) -> Result<NodeDirs, DirError> {
        create_private(data_dir)?;
        let data_dir = data_dir.canonicalize().map_err(io(data_dir))?;
        let shm = Path::new("/dev/shm");
        let secret_root = if shm.is_dir() {
            let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
            shm.join(format!("wasmpod-{}", &hex::encode(digest)[..16]))
        } else {
            data_dir.join("secrets")
        };
        Ok(NodeDirs {
            data_dir,
            secret_root,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn secret_root(&self) -> &Path {
        &self.secret_root
    }

    /// A pod's ephemeral volumes (emptyDirs, ConfigMap files).
    pub fn pod_dir(&self, uid: &str) -> Result<PathBuf, DirError> {
        let uid = Segment::Label("pod uid", uid).check()?;
        Ok(self.data_dir.join("pods").join(uid))
    }

    /// A pod's Secret files.
    pub fn secret_dir(&self, uid: &str) -> Result<PathBuf, DirError> {
        let uid = Segment::Label("pod uid", uid).check()?;
        Ok(self.secret_root.join(uid))
    }

    /// A claim's data, kept across pods and restarts.
    pub fn claim_dir(&self, namespace: &str, claim: &str, uid: &str) -> Result<PathBuf, DirError> {
        let namespace = Segment::Namespace(namespace).check()?;
        let claim = Segment::Label("claim name", claim).check()?;
        let uid = Segment::Label("claim uid", uid).check()?;
        Ok(self
            .data_dir
            .join("volumes")
            .join(namespace)
            .join(format!("{claim}-{uid}")))
    }

    /// Creates `dir` (0700 at every level it creates) and checks it resolves inside `root`.
    pub fn create_inside(&self, root: &Path, dir: &Path) -> Result<(), DirError> {
        create_private(root)?;
        create_private(dir)?;
        let root = root.canonicalize().map_err(io(root))?;
        let resolved = dir.canonicalize().map_err(io(dir))?;
        if resolved.starts_with(&root) {
            Ok(())
        } else {
            Err(DirError::Escapes {
                path: dir.to_path_buf(),
                resolved,
                root,
            })
        }
    }

    /// Removes what dies with a pod: its ephemeral volumes and its Secret files.
    pub fn remove_pod(&self, uid: &str) {
        for dir in [self.pod_dir(uid), self.secret_dir(uid)] {
            match dir {
                Ok(dir) => remove(&dir),
                Err(error) => tracing::warn!(%error, "not removing a pod directory"),
            }
        }
    }

    /// Removes the pod directories and Secret files of every pod not in `keep` (pods this node
    /// ran before a restart and no longer runs).
    pub fn remove_stale(&self, keep: &std::collections::HashSet<String>) {
        for root in [self.data_dir.join("pods"), self.secret_root.clone()] {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if !keep.contains(name.to_string_lossy().as_ref()) {
                    tracing::info!(dir = %entry.path().display(), "removing a stale pod directory");
                    remove(&entry.path());
                }
            }
        }
    }

    /// Removes every Secret file of this node (at start, nothing runs yet; at shutdown, nothing
    /// runs any more).
    pub fn clear_secrets(&self) {
        remove(&self.secret_root);
    }
}

fn remove(path: &Path) {
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, path = %path.display(), "cannot remove"),
    }
}

/// `mkdir -p` with 0700 for every directory it creates, and 0700 on `dir` itself.
pub fn create_private(dir: &Path) -> Result<(), DirError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(io(dir))
}

/// Writes a new file readable by its owner only (0600) in `dir`, named by a checked key.
pub fn write_private(dir: &Path, key: &str, bytes: &[u8]) -> Result<(), DirError> {
    let path = dir.join(Segment::DataKey(key).check()?);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io(&path))?;
    file.write_all(bytes).map_err(io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_name_is_refused_not_joined() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = NodeDirs::create(&tmp.path().join("data")).unwrap();
        let err = dirs
            .claim_dir("../../../../tmp/x", "data", "abc")
            .unwrap_err();
        assert!(err.to_string().contains("namespace"), "{err}");
        assert!(dirs.claim_dir("default", "../x", "abc").is_err());
        assert!(dirs.claim_dir("default", "data", "a/b").is_err());
        assert!(dirs.pod_dir("..").is_err());
        assert!(dirs.secret_dir("").is_err());
        let ok = dirs.claim_dir("default", "data", "abc").unwrap();
        assert!(ok.starts_with(dirs.data_dir()));
    }

    #[test]
    fn a_key_cannot_name_a_file_outside_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        for key in ["../escape", "..", "a/b", ""] {
            assert!(write_private(tmp.path(), key, b"x").is_err(), "{key}");
        }
        assert!(!tmp.path().parent().unwrap().join("escape").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_root_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = NodeDirs::create(&tmp.path().join("data")).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(dirs.data_dir().join("volumes")).unwrap();
        std::os::unix::fs::symlink(&outside, dirs.data_dir().join("volumes/default")).unwrap();
        let dir = dirs.claim_dir("default", "data", "abc").unwrap();
        let err = dirs.create_inside(dirs.data_dir(), &dir).unwrap_err();
        assert!(matches!(err, DirError::Escapes { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn private_dirs_and_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dirs = NodeDirs::create(&tmp.path().join("data")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dirs.data_dir()), 0o700);
        let root = dirs.data_dir().join("pods");
        let dir = root.join("uid1").join("files-token");
        dirs.create_inside(&root, &dir).unwrap();
        write_private(&dir, "token", b"s3cret").unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("uid1")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("token")), 0o600);
    }

    #[test]
    fn stale_pod_directories_go_and_kept_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = NodeDirs::create(&tmp.path().join("data")).unwrap();
        for uid in ["keep", "stale"] {
            let dir = dirs.pod_dir(uid).unwrap();
            dirs.create_inside(dirs.data_dir(), &dir).unwrap();
        }
        dirs.remove_stale(&["keep".to_string()].into_iter().collect());
        assert!(dirs.pod_dir("keep").unwrap().exists());
        assert!(!dirs.pod_dir("stale").unwrap().exists());
    }
}
