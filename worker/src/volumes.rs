//! A pod's volumes on this node: ConfigMap files and emptyDirs under the pod's own directory,
//! Secret files under the node's tmpfs secret root (both removed when the pod leaves), claims
//! under `volumes/` (kept: the data outlives pods and restarts), each preopened at its mount
//! path. Paths come from [`NodeDirs`], which refuses any name that is not safe as a segment.

use crate::node_dirs::{write_private, DirError, NodeDirs, Segment};
use base64::Engine as _;
use std::path::PathBuf;
use wasmpod_api::resolved::ResolvedPodConfig;
use wasmpod_api::PodSpec;
use wasmpod_runtime::Mount;

/// Creates the host side of every mounted volume and returns the preopens.
pub fn prepare(
    dirs: &NodeDirs,
    namespace: &str,
    uid: &str,
    spec: &PodSpec,
    resolved: &ResolvedPodConfig,
) -> Result<Vec<Mount>, String> {
    spec.volume_mounts
        .iter()
        .map(|mount| {
            let (host_path, read_only) = host_side(
                dirs,
                namespace,
                uid,
                spec,
                resolved,
                &mount.name,
                mount.read_only,
            )
            .map_err(|e| format!("volume {:?}: {e}", mount.name))?;
            Ok(Mount {
                host_path,
                guest_path: mount.mount_path.clone(),
                read_only,
            })
        })
        .collect()
}

/// The host directory of one mounted volume, created, and whether it is read-only.
fn host_side(
    dirs: &NodeDirs,
    namespace: &str,
    uid: &str,
    spec: &PodSpec,
    resolved: &ResolvedPodConfig,
    name: &str,
    mount_read_only: bool,
) -> Result<(PathBuf, bool), DirError> {
    let volume_name = Segment::Label("volume name", name).check()?;
    let volume = spec.volumes.iter().find(|v| v.name == name);
    if let Some(claim) = resolved.claims.iter().find(|c| c.volume == name) {
        let dir = dirs.claim_dir(namespace, &claim.claim_name, &claim.uid)?;
        dirs.create_inside(dirs.data_dir(), &dir)?;
        let claim_ro = volume
            .and_then(|v| v.persistent_volume_claim.as_ref())
            .is_some_and(|c| c.read_only);
        return Ok((dir, mount_read_only || claim_ro));
    }
    if let Some(files) = resolved.files.get(name) {
        let is_secret = volume.is_some_and(|v| v.secret.is_some());
        let (root, base) = if is_secret {
            (dirs.secret_root().to_path_buf(), dirs.secret_dir(uid)?)
        } else {
            (dirs.data_dir().to_path_buf(), dirs.pod_dir(uid)?)
        };
        let dir = base.join(format!("files-{volume_name}"));
        // Written afresh on every start: a reload may have removed or changed keys.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(DirError::Io { path: dir, source }),
        }
        dirs.create_inside(&root, &dir)?;
        for (key, content) in files {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content)
                .map_err(|e| DirError::BadSegment {
                    what: "content of key",
                    value: key.clone(),
                    reason: e.to_string(),
                })?;
            write_private(&dir, key, &bytes)?;
        }
        return Ok((dir, true));
    }
    if volume.is_some_and(|v| v.empty_dir.is_some()) {
        let dir = dirs.pod_dir(uid)?.join(format!("empty-{volume_name}"));
        dirs.create_inside(dirs.data_dir(), &dir)?;
        return Ok((dir, mount_read_only));
    }
    Err(DirError::BadSegment {
        what: "volume",
        value: name.to_string(),
        reason: "it has no source on this node".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use wasmpod_api::resolved::ResolvedClaim;

    fn spec(json: &str) -> PodSpec {
        serde_json::from_str(json).unwrap()
    }

    /// The API refuses these names; a node that gets one anyway (an old or compromised control
    /// plane) refuses it too, and creates nothing outside its data dir.
    #[test]
    fn node_refuses_a_claim_in_a_namespace_that_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = NodeDirs::create(&tmp.path().join("data")).unwrap();
        let spec = spec(
            r#"{"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "volumes": [{"name": "data",
                "persistentVolumeClaim": {"claimName": "data"}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}"#,
        );
        let resolved = ResolvedPodConfig {
            claims: vec![ResolvedClaim {
                volume: "data".into(),
                claim_name: "data".into(),
                uid: "abc123".into(),
            }],
            ..Default::default()
        };
        let err = prepare(&dirs, "../../../../x", "uid1", &spec, &resolved).unwrap_err();
        assert!(err.contains("namespace"), "{err}");
        assert!(!tmp.path().join("x").exists());
        let mut bad_claim = resolved.clone();
        bad_claim.claims[0].claim_name = "../../../escape".into();
        assert!(prepare(&dirs, "default", "uid1", &spec, &bad_claim).is_err());
        assert!(!tmp.path().join("escape-abc123").exists());
        let mounts = prepare(&dirs, "default", "uid1", &spec, &resolved).unwrap();
        assert!(mounts[0].host_path.starts_with(dirs.data_dir()));
    }

    #[test]
    fn node_refuses_a_file_key_that_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = NodeDirs::create(&tmp.path().join("data")).unwrap();
        let spec = spec(
            r#"{"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "volumes": [{"name": "conf",
                "configMap": {"name": "conf"}}],
                "volumeMounts": [{"name": "conf", "mountPath": "/conf"}]}"#,
        );
        let files = BTreeMap::from([("../../../../escaped".to_string(), "eA==".to_string())]);
        let resolved = ResolvedPodConfig {
            files: BTreeMap::from([("conf".to_string(), files)]),
            ..Default::default()
        };
        let err = prepare(&dirs, "default", "uid1", &spec, &resolved).unwrap_err();
        assert!(err.contains("key"), "{err}");
        assert!(!tmp.path().join("escaped").exists());
        assert!(!dirs.data_dir().join("escaped").exists());
    }
}
