//! Parsing multi-document YAML manifests into checked resources. Every error names the source,
//! the document (1-based, with kind and name once known) and the field.

use crate::error::ValidationError;
use crate::object::{AnyObject, Kind};
use crate::resources::{
    ConfigMap, Deployment, HorizontalPodAutoscaler, Ingress, KeyValueStore, Namespace,
    PersistentVolumeClaim, Secret, Service, StatefulSet,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use thiserror::Error;

/// A resource a user may write in a manifest.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "few of these exist at a time; boxing would only add noise"
)]
pub enum UserObject {
    Deployment(Deployment),
    Service(Service),
    Ingress(Ingress),
    ConfigMap(ConfigMap),
    Secret(Secret),
    PersistentVolumeClaim(PersistentVolumeClaim),
    StatefulSet(StatefulSet),
    Namespace(Namespace),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    KeyValueStore(KeyValueStore),
}

macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            UserObject::Deployment($o) => $body,
            UserObject::Service($o) => $body,
            UserObject::Ingress($o) => $body,
            UserObject::ConfigMap($o) => $body,
            UserObject::Secret($o) => $body,
            UserObject::PersistentVolumeClaim($o) => $body,
            UserObject::StatefulSet($o) => $body,
            UserObject::Namespace($o) => $body,
            UserObject::HorizontalPodAutoscaler($o) => $body,
            UserObject::KeyValueStore($o) => $body,
        }
    };
}

impl UserObject {
    pub fn kind(&self) -> Kind {
        match self {
            UserObject::Deployment(_) => Kind::Deployment,
            UserObject::Service(_) => Kind::Service,
            UserObject::Ingress(_) => Kind::Ingress,
            UserObject::ConfigMap(_) => Kind::ConfigMap,
            UserObject::Secret(_) => Kind::Secret,
            UserObject::PersistentVolumeClaim(_) => Kind::PersistentVolumeClaim,
            UserObject::StatefulSet(_) => Kind::StatefulSet,
            UserObject::Namespace(_) => Kind::Namespace,
            UserObject::HorizontalPodAutoscaler(_) => Kind::HorizontalPodAutoscaler,
            UserObject::KeyValueStore(_) => Kind::KeyValueStore,
        }
    }

    pub fn metadata(&self) -> &crate::ObjectMeta {
        each!(self, o => &o.metadata)
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_str()
    }

    pub fn namespace(&self) -> &str {
        self.metadata().namespace()
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            UserObject::Deployment(o) => o.spec.validate(),
            UserObject::Service(o) => o.spec.validate(),
            UserObject::Ingress(o) => o.spec.validate(),
            UserObject::ConfigMap(o) => o.validate(),
            UserObject::Secret(o) => o.validate(),
            UserObject::PersistentVolumeClaim(o) => o.spec.validate("spec"),
            UserObject::StatefulSet(o) => o.spec.validate(),
            UserObject::Namespace(_) => Ok(()),
            UserObject::HorizontalPodAutoscaler(o) => o.spec.validate(),
            UserObject::KeyValueStore(o) => o.spec.validate(),
        }
    }

    pub fn to_any(&self) -> AnyObject {
        let value = each!(self, o => serde_json::to_value(o));
        // Serialising our own derive-generated types into a Value cannot fail.
        AnyObject(value.unwrap_or_default())
    }

    /// Parses and validates an object of a user kind from its JSON form (the API server's input).
    pub fn from_any(object: &AnyObject) -> Result<UserObject, DocumentError> {
        from_value(object.0.clone())
    }
}

/// Where a document came from: `deploy.yaml: document 2 (Service hello)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    pub source: String,
    pub index: usize,
    pub kind: Option<String>,
    pub name: Option<String>,
}

impl fmt::Display for DocumentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.source, self.index)?;
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => write!(f, " ({k} {n})"),
            (Some(k), None) => write!(f, " ({k})"),
            _ => Ok(()),
        }
    }
}

/// What is wrong with one document, without where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DocumentError {
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("apiVersion: {0:?} is not supported (use wasmpod.dev/v1)")]
    ApiVersion(String),
    #[error("kind: {0:?} is not a kind wasmpod knows (Deployment, StatefulSet, Service, Ingress, ConfigMap, Secret, PersistentVolumeClaim, HorizontalPodAutoscaler, KeyValueStore)")]
    UnknownKind(String),
    #[error("kind: {0} objects are made by the system and cannot be applied")]
    SystemKind(String),
}

impl From<ValidationError> for DocumentError {
    fn from(e: ValidationError) -> Self {
        DocumentError::Field {
            field: e.field,
            message: e.message,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{document}: {error}")]
pub struct ManifestError {
    pub document: Box<DocumentRef>,
    pub error: DocumentError,
}

/// One parsed document and where it came from.
#[derive(Debug, Clone)]
pub struct ManifestDocument {
    pub document: DocumentRef,
    pub object: UserObject,
}

/// Parses every document of `text` (empty documents are skipped) and checks that no two share
/// a kind, namespace and name.
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<ManifestDocument>, ManifestError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let mut document = DocumentRef {
            source: source.to_string(),
            index: i + 1,
            kind: None,
            name: None,
        };
        let value = match serde_yaml::Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                return Err(ManifestError {
                    document: Box::new(document),
                    error: DocumentError::Yaml(e.to_string()),
                })
            }
        };
        if value.is_null() {
            continue;
        }
        document.kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_string);
        document.name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let json = match serde_json::to_value(&value) {
            Ok(j) => j,
            Err(e) => {
                return Err(ManifestError {
                    document: Box::new(document),
                    error: DocumentError::Yaml(e.to_string()),
                })
            }
        };
        let object = from_value(json).map_err(|error| ManifestError {
            document: Box::new(document.clone()),
            error,
        })?;
        let key = (
            object.kind(),
            object.namespace().to_string(),
            object.name().to_string(),
        );
        if !seen.insert(key) {
            return Err(ManifestError {
                document: Box::new(document),
                error: DocumentError::Field {
                    field: "metadata.name".into(),
                    message: format!(
                        "{} {:?} appears twice in this apply",
                        object.kind(),
                        object.name()
                    ),
                },
            });
        }
        out.push(ManifestDocument { document, object });
    }
    Ok(out)
}

fn from_value(value: serde_json::Value) -> Result<UserObject, DocumentError> {
    if !value.is_object() {
        return Err(DocumentError::Yaml(
            "a document must be a mapping with apiVersion, kind, metadata and spec".into(),
        ));
    }
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .ok_or(DocumentError::Missing("apiVersion"))?;
    if api_version != crate::API_VERSION {
        return Err(DocumentError::ApiVersion(api_version.to_string()));
    }
    let kind_text = value
        .get("kind")
        .and_then(|v| v.as_str())
        .ok_or(DocumentError::Missing("kind"))?;
    let kind = Kind::from_kind(kind_text)
        .ok_or_else(|| DocumentError::UnknownKind(kind_text.to_string()))?;
    let object = match kind {
        Kind::Deployment => UserObject::Deployment(typed(value)?),
        Kind::Service => UserObject::Service(typed(value)?),
        Kind::Ingress => UserObject::Ingress(typed(value)?),
        Kind::ConfigMap => UserObject::ConfigMap(typed(value)?),
        Kind::Secret => UserObject::Secret(typed(value)?),
        Kind::PersistentVolumeClaim => UserObject::PersistentVolumeClaim(typed(value)?),
        Kind::StatefulSet => UserObject::StatefulSet(typed(value)?),
        Kind::Namespace => UserObject::Namespace(typed(value)?),
        Kind::HorizontalPodAutoscaler => UserObject::HorizontalPodAutoscaler(typed(value)?),
        Kind::KeyValueStore => UserObject::KeyValueStore(typed(value)?),
        Kind::Pod | Kind::Node | Kind::Event | Kind::ControllerRevision => {
            return Err(DocumentError::SystemKind(kind_text.to_string()))
        }
    };
    object.validate()?;
    Ok(object)
}

fn typed<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, DocumentError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        DocumentError::Field {
            field: if path == "." {
                "(document)".into()
            } else {
                path
            },
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {name: hello, labels: {app: hello}}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {component: ./hello.wasm}
---
apiVersion: wasmpod.dev/v1
kind: Service
metadata: {name: hello}
spec: {selector: {app: hello}}
---
"#;

    #[test]
    fn multi_document_manifest_parses() {
        let docs = parse_manifests(GOOD, "deploy.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].object.kind(), Kind::Deployment);
        assert_eq!(docs[1].document.index, 2);
    }

    #[test]
    fn unknown_field_names_field_and_document() {
        let text = GOOD.replace("replicas: 2", "replicas: 2\n  replica: 3");
        let err = parse_manifests(&text, "d.yaml").unwrap_err().to_string();
        assert!(
            err.contains("d.yaml: document 1 (Deployment hello)"),
            "{err}"
        );
        assert!(err.contains("unknown field `replica`"), "{err}");
        assert!(err.contains("spec"), "{err}");
    }

    /// Issue 11, finding 3: a namespace or a reference that would become a path outside a
    /// node's data dir is refused at parse time, naming the field and the value.
    #[test]
    fn names_that_would_escape_a_directory_are_refused() {
        let claim = "apiVersion: wasmpod.dev/v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: ../../../../tmp/x}\nspec: {}\n";
        let err = parse_manifests(claim, "m.yaml").unwrap_err().to_string();
        assert!(err.contains("metadata.namespace"), "{err}");
        assert!(err.contains("../../../../tmp/x"), "{err}");
        let deployment = |volume: &str| {
            GOOD.split("---").next().unwrap().replace(
                "spec: {component: ./hello.wasm}",
                &format!("spec: {{component: ./hello.wasm, volumes: [{volume}]}}"),
            )
        };
        for (volume, field) in [
            (
                "{name: d, persistentVolumeClaim: {claimName: ../x}}",
                "claimName",
            ),
            ("{name: d, secret: {secretName: a/b}}", "secretName"),
            ("{name: d, configMap: {name: ..}}", "configMap.name"),
        ] {
            let err = parse_manifests(&deployment(volume), "m.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let key_ref = GOOD.split("---").next().unwrap().replace(
            "spec: {component: ./hello.wasm}",
            "spec: {component: ./hello.wasm, env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: ../k}}}]}",
        );
        let err = parse_manifests(&key_ref, "m.yaml").unwrap_err().to_string();
        assert!(err.contains("secretKeyRef.key"), "{err}");
        let config_map =
            "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {'..': x}\n";
        let err = parse_manifests(config_map, "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("data[\"..\"]"), "{err}");
    }

    #[test]
    fn bad_inputs_are_refused_with_reasons() {
        let cases = [
            ("kind: [", "not valid YAML"),
            (
                &GOOD.replace("kind: Service", "kind: Servise") as &str,
                "Servise",
            ),
            (
                &GOOD.replace("spec: {selector: {app: hello}}", "spec: {selector: {}}"),
                "spec.selector",
            ),
            (
                &GOOD.replace("name: hello, labels", "name: Hello_1, labels"),
                "metadata.name",
            ),
            (
                &format!("{GOOD}\n{}", GOOD.split("---").next().unwrap()),
                "twice",
            ),
            (
                &GOOD.replace("wasmpod.dev/v1\nkind: Service", "v1\nkind: Service"),
                "apiVersion",
            ),
        ];
        for (text, needle) in cases {
            let err = parse_manifests(text, "m.yaml").unwrap_err().to_string();
            assert!(err.contains(needle), "expected {needle:?} in {err}");
        }
    }
}
