//! The OCI image manifest of a Wasm component and its config, as the CNCF TAG Runtime's
//! wasm-oci artifact layout writes them: config `application/vnd.wasm.config.v0+json`
//! (`architecture: wasm`, `os: wasip2`, `layerDigests`, `created`) and one `application/wasm`
//! layer. On a pull the older layouts that Spin and wasm-to-oci write are accepted too (see
//! [`WASM_LAYER_TYPES`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Layer media types that hold a Wasm component or module: the CNCF one, wasm-to-oci's
/// (`application/vnd.wasm.content.layer.v1+wasm`) and Spin's per-component layer
/// (`application/vnd.wasm.content.layer.v1+wasm` too, beside its `.spin.` config).
pub const WASM_LAYER_TYPES: &[&str] = &[
    WASM_LAYER_MEDIA_TYPE,
    "application/vnd.wasm.content.layer.v1+wasm",
];
/// Config media types accepted on a pull: the CNCF one and wasm-to-oci's.
pub const WASM_CONFIG_TYPES: &[&str] = &[
    WASM_CONFIG_MEDIA_TYPE,
    "application/vnd.wasm.config.v1+json",
    "application/vnd.oci.image.config.v1+json",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The CNCF Wasm config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    pub created: String,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<String>,
}

/// A component ready to push: the config and manifest bytes, and the component.
#[derive(Debug, Clone)]
pub struct WasmArtifact {
    pub component: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl WasmArtifact {
    pub fn new(component: Vec<u8>, created: chrono::DateTime<chrono::Utc>) -> WasmArtifact {
        let layer = Descriptor::of(WASM_LAYER_MEDIA_TYPE, &component);
        let config = serde_json::to_vec(&WasmConfig {
            created: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![layer.digest.clone()],
        })
        .unwrap_or_default();
        let manifest = serde_json::to_vec(&ImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            artifact_type: Some(WASM_CONFIG_MEDIA_TYPE.into()),
            config: Descriptor::of(WASM_CONFIG_MEDIA_TYPE, &config),
            layers: vec![layer],
        })
        .unwrap_or_default();
        WasmArtifact {
            component,
            config,
            manifest,
        }
    }

    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
}

/// A pulled manifest's one Wasm layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub layer: Descriptor,
}

/// Why a manifest is not a Wasm component's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not an OCI image manifest: {0}")]
    Parse(String),
    #[error("manifest media type {found:?} is not {MANIFEST_MEDIA_TYPE:?}")]
    MediaType { found: String },
    #[error("config media type {found:?} is not a Wasm config (accepted: {accepted})")]
    ConfigType { found: String, accepted: String },
    #[error("the manifest has {count} Wasm layers ({types}); exactly one is needed (accepted layer types: {accepted})")]
    Layers {
        count: usize,
        types: String,
        accepted: String,
    },
}

/// Checks a manifest (already checked against its digest) and returns its Wasm layer.
pub fn wasm_layer(bytes: &[u8]) -> Result<Pulled, ManifestError> {
    let manifest: ImageManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Parse(e.to_string()))?;
    if let Some(found) = manifest
        .media_type
        .as_deref()
        .filter(|m| *m != MANIFEST_MEDIA_TYPE)
    {
        return Err(ManifestError::MediaType {
            found: found.to_string(),
        });
    }
    if !WASM_CONFIG_TYPES.contains(&manifest.config.media_type.as_str()) {
        return Err(ManifestError::ConfigType {
            found: manifest.config.media_type,
            accepted: WASM_CONFIG_TYPES.join(", "),
        });
    }
    let wasm: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| WASM_LAYER_TYPES.contains(&l.media_type.as_str()))
        .collect();
    match wasm.as_slice() {
        [layer] if crate::oci::reference::is_digest(&layer.digest) => Ok(Pulled {
            layer: (*layer).clone(),
        }),
        _ => Err(ManifestError::Layers {
            count: wasm.len(),
            types: manifest
                .layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            accepted: WASM_LAYER_TYPES.join(", "),
        }),
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pushed_artifact_is_in_the_cncf_layout_and_pulls_back_its_layer() {
        let artifact = WasmArtifact::new(b"\0asm component".to_vec(), chrono::Utc::now());
        let manifest: serde_json::Value = serde_json::from_slice(&artifact.manifest).unwrap();
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
        let config: serde_json::Value = serde_json::from_slice(&artifact.config).unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip2");
        let layer = sha256_digest(&artifact.component);
        assert_eq!(config["layerDigests"], json!([layer]));
        assert_eq!(
            manifest["config"]["digest"],
            sha256_digest(&artifact.config)
        );
        let pulled = wasm_layer(&artifact.manifest).unwrap();
        assert_eq!(pulled.layer.digest, layer);
        assert_eq!(pulled.layer.size, artifact.component.len() as u64);
    }

    fn manifest(config: &str, layers: &[&str]) -> Vec<u8> {
        let d = format!("sha256:{}", "a".repeat(64));
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": config, "digest": d, "size": 2},
            "layers": layers.iter().map(|t| json!({"mediaType": t, "digest": d, "size": 3}))
                .collect::<Vec<_>>()}),
        )
        .unwrap()
    }

    #[test]
    fn manifests_that_hold_no_single_wasm_layer_are_refused() {
        let old = manifest(
            "application/vnd.wasm.config.v1+json",
            &["application/vnd.wasm.content.layer.v1+wasm"],
        );
        assert!(wasm_layer(&old).is_ok());
        let image = manifest(
            "application/vnd.oci.image.config.v1+json",
            &["application/vnd.oci.image.layer.v1.tar+gzip"],
        );
        let e = wasm_layer(&image).unwrap_err();
        assert!(matches!(e, ManifestError::Layers { count: 0, .. }), "{e}");
        assert!(e.to_string().contains("tar+gzip"), "{e}");
        let two = manifest(
            WASM_CONFIG_MEDIA_TYPE,
            &["application/wasm", "application/wasm"],
        );
        assert!(matches!(
            wasm_layer(&two),
            Err(ManifestError::Layers { count: 2, .. })
        ));
        let helm = manifest(
            "application/vnd.cncf.helm.config.v1+json",
            &["application/wasm"],
        );
        assert!(matches!(
            wasm_layer(&helm),
            Err(ManifestError::ConfigType { .. })
        ));
        let index = serde_json::to_vec(&json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}))
        .unwrap();
        assert!(wasm_layer(&index).is_err());
        assert!(matches!(
            wasm_layer(b"not json"),
            Err(ManifestError::Parse(_))
        ));
    }
}
