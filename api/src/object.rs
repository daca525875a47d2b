//! The Kubernetes object shape, the kinds wasmpod knows, and the untyped form the store keeps.

use crate::meta::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `apiVersion`, `kind`, `metadata`, `spec`, `status`: the shape of every resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Object<S, T> {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: S,
    #[serde(default)]
    pub status: T,
}

impl<S, T: Default> Object<S, T> {
    pub fn new(kind: Kind, metadata: ObjectMeta, spec: S) -> Self {
        Object {
            api_version: crate::API_VERSION.to_string(),
            kind: kind.as_str().to_string(),
            metadata,
            spec,
            status: T::default(),
        }
    }
}

impl<S, T> Object<S, T> {
    pub fn name(&self) -> &str {
        self.metadata.name.as_str()
    }

    pub fn namespace(&self) -> &str {
        self.metadata.namespace()
    }
}

/// The kinds of resource wasmpod stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Deployment,
    Service,
    Ingress,
    Pod,
    Node,
    Event,
    ConfigMap,
    Secret,
    PersistentVolumeClaim,
    StatefulSet,
    Namespace,
    ControllerRevision,
    HorizontalPodAutoscaler,
    KeyValueStore,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Deployment,
        Kind::Service,
        Kind::Ingress,
        Kind::Pod,
        Kind::Node,
        Kind::Event,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::PersistentVolumeClaim,
        Kind::StatefulSet,
        Kind::Namespace,
        Kind::ControllerRevision,
        Kind::HorizontalPodAutoscaler,
        Kind::KeyValueStore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::Service => "Service",
            Kind::Ingress => "Ingress",
            Kind::Pod => "Pod",
            Kind::Node => "Node",
            Kind::Event => "Event",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
            Kind::StatefulSet => "StatefulSet",
            Kind::Namespace => "Namespace",
            Kind::ControllerRevision => "ControllerRevision",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::KeyValueStore => "KeyValueStore",
        }
    }

    /// The lowercase plural used in API paths (`/api/v1/deployments`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments",
            Kind::Service => "services",
            Kind::Ingress => "ingresses",
            Kind::Pod => "pods",
            Kind::Node => "nodes",
            Kind::Event => "events",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
            Kind::StatefulSet => "statefulsets",
            Kind::Namespace => "namespaces",
            Kind::ControllerRevision => "controllerrevisions",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscalers",
            Kind::KeyValueStore => "keyvaluestores",
        }
    }

    /// Nodes and namespaces belong to the cluster, everything else to a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }

    /// The short names the command line accepts (`po`, `deploy`, ...), as kubectl's.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Pod => &["po"],
            Kind::Deployment => &["deploy"],
            Kind::Service => &["svc"],
            Kind::Ingress => &["ing"],
            Kind::Node => &["no"],
            Kind::Event => &["ev"],
            Kind::ConfigMap => &["cm"],
            Kind::Secret => &[],
            Kind::PersistentVolumeClaim => &["pvc"],
            Kind::StatefulSet => &["sts"],
            Kind::Namespace => &["ns"],
            Kind::ControllerRevision => &["rev"],
            Kind::HorizontalPodAutoscaler => &["hpa"],
            Kind::KeyValueStore => &["kvs"],
        }
    }

    /// Kinds a user may create with `apply`; pods, nodes and events are made by the system.
    pub fn user_creatable(self) -> bool {
        !matches!(
            self,
            Kind::Pod | Kind::Node | Kind::Event | Kind::ControllerRevision
        )
    }

    pub fn from_kind(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Accepts what kubectl accepts on the command line: `pods`, `pod`, `po`, `Deployment`, `deploy` ...
    pub fn from_cli(text: &str) -> Option<Kind> {
        let t = text.to_ascii_lowercase();
        Kind::ALL.into_iter().find(|k| {
            t == k.plural()
                || t == k.as_str().to_ascii_lowercase()
                || k.short_names().contains(&t.as_str())
        })
    }

    pub fn from_plural(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == text)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an object lives in the store: kind, namespace (empty for cluster objects) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        let namespace = if kind.namespaced() { namespace } else { "" };
        ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind.plural(), self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind.plural(), self.namespace, self.name)
        }
    }
}

/// An object of any kind, as JSON, with its kind known. The store and the watch stream carry
/// this; typed code converts with [`AnyObject::to_typed`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AnyObject(pub serde_json::Value);

impl AnyObject {
    pub fn from_typed<S: Serialize, T: Serialize>(
        object: &Object<S, T>,
    ) -> Result<Self, serde_json::Error> {
        serde_json::to_value(object).map(AnyObject)
    }

    pub fn to_typed<O: DeserializeOwned>(&self) -> Result<O, serde_json::Error> {
        serde_json::from_value(self.0.clone())
    }

    pub fn kind(&self) -> Option<Kind> {
        self.0
            .get("kind")
            .and_then(|k| k.as_str())
            .and_then(Kind::from_kind)
    }

    pub fn name(&self) -> &str {
        self.0
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.0
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
            .unwrap_or(crate::DEFAULT_NAMESPACE)
    }

    pub fn resource_version(&self) -> u64 {
        self.0
            .pointer("/metadata/resourceVersion")
            .and_then(|v| v.as_u64())
            .unwrap_or_default()
    }

    pub fn key(&self) -> Option<ObjectKey> {
        self.kind()
            .map(|kind| ObjectKey::new(kind, self.namespace(), self.name()))
    }
}
