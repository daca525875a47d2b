//! A pod's volumes on this node: ConfigMap/Secret files and emptyDirs under the pod's own
//! directory (removed when the pod leaves), claims under `volumes/` (kept: the data outlives
//! pods and restarts), each preopened at its mount path.

use base64::Engine as _;
use std::path::{Path, PathBuf};
use wasmpod_api::resolved::ResolvedPodConfig;
use wasmpod_api::PodSpec;
use wasmpod_runtime::Mount;

/// Where a pod's ephemeral volumes live.
pub fn pod_dir(data_dir: &Path, uid: &str) -> PathBuf {
    data_dir.join("pods").join(uid)
}

/// Where a pod's Secret files live: in memory (`/dev/shm`) where there is one, like
/// Kubernetes' tmpfs, so secret values never reach the node's disk.
pub fn secret_dir(data_dir: &Path, uid: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join("wasmpod").join(uid)
    } else {
        pod_dir(data_dir, uid).join("secrets")
    }
}

/// Where a claim's data lives on this node.
pub fn claim_dir(data_dir: &Path, namespace: &str, claim: &str, uid: &str) -> PathBuf {
    data_dir
        .join("volumes")
        .join(namespace)
        .join(format!("{claim}-{uid}"))
}

fn io(what: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", what.display())
}

fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    }
}

/// Creates the host side of every mounted volume and returns the preopens.
pub fn prepare(
    data_dir: &Path,
    namespace: &str,
    uid: &str,
    spec: &PodSpec,
    resolved: &ResolvedPodConfig,
) -> Result<Vec<Mount>, String> {
    let pod_dir = pod_dir(data_dir, uid);
    let mut mounts = Vec::new();
    for mount in &spec.volume_mounts {
        let claim = resolved.claims.iter().find(|c| c.volume == mount.name);
        let volume = spec.volumes.iter().find(|v| v.name == mount.name);
        let (host, read_only) = if let Some(claim) = claim {
            let dir = claim_dir(data_dir, namespace, &claim.claim_name, &claim.uid);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let claim_ro = volume
                .and_then(|v| v.persistent_volume_claim.as_ref())
                .is_some_and(|c| c.read_only);
            (dir, mount.read_only || claim_ro)
        } else if let Some(files) = resolved.files.get(&mount.name) {
            let is_secret = volume.is_some_and(|v| v.secret.is_some());
            let base = if is_secret {
                secret_dir(data_dir, uid)
            } else {
                pod_dir.clone()
            };
            let dir = base.join(format!("files-{}", mount.name));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            restrict(&dir);
            for (name, content) in files {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .map_err(|e| format!("{name}: {e}"))?;
                let path = dir.join(name);
                std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
            }
            (dir, true)
        } else if volume.is_some_and(|v| v.empty_dir.is_some()) {
            let dir = pod_dir.join(format!("empty-{}", mount.name));
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            (dir, mount.read_only)
        } else {
            return Err(format!(
                "volume {:?} has no source on this node",
                mount.name
            ));
        };
        mounts.push(Mount {
            host_path: host,
            guest_path: mount.mount_path.clone(),
            read_only,
        });
    }
    Ok(mounts)
}

/// Removes what dies with the pod (emptyDirs, ConfigMap and Secret files).
pub fn cleanup(data_dir: &Path, uid: &str) {
    let _ = std::fs::remove_dir_all(pod_dir(data_dir, uid));
    let _ = std::fs::remove_dir_all(secret_dir(data_dir, uid));
}
