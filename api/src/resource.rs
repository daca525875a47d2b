//! A type that knows its kind, as kube-core's `Resource` does: `Pod::KIND`, `deployment.key()`,
//! `Pod::of(metadata, spec)`, `OwnerReference::to(&deployment)`, so that no call names a kind
//! twice (once as a type, once as a `Kind`) and owner references compare kinds, not strings.

use crate::meta::{ObjectMeta, OwnerReference};
use crate::object::{Kind, Object, ObjectKey};
use crate::resources::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An API object of one kind.
pub trait Resource: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: Kind;

    fn meta(&self) -> &ObjectMeta;

    /// The object's store key.
    fn key(&self) -> ObjectKey {
        let meta = self.meta();
        ObjectKey::new(Self::KIND, meta.namespace(), meta.name.as_str())
    }

    /// Is this object owned by `owner`'s kind and name (its uid too, when the reference has one)?
    fn is_owned_by<O: Resource>(&self, owner: &O) -> bool {
        self.meta()
            .owner_references
            .iter()
            .any(|r| r.refers_to(owner))
    }
}

/// The spec of the kind of `Object<Spec, Status>` it belongs to.
pub trait KindSpec {
    const KIND: Kind;
}

impl<S, T> Resource for Object<S, T>
where
    S: KindSpec + Serialize + DeserializeOwned + Send + Sync + 'static,
    T: Default + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    const KIND: Kind = S::KIND;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl<S: KindSpec, T: Default> Object<S, T> {
    /// A new object of the spec's kind.
    pub fn of(metadata: ObjectMeta, spec: S) -> Self {
        Object::new(S::KIND, metadata, spec)
    }
}

macro_rules! kind_spec {
    ($($spec:ty => $kind:ident),* $(,)?) => {
        $(impl KindSpec for $spec {
            const KIND: Kind = Kind::$kind;
        })*
    };
}

kind_spec! {
    DeploymentSpec => Deployment,
    ServiceSpec => Service,
    IngressSpec => Ingress,
    PodSpec => Pod,
    NodeSpec => Node,
    EventSpec => Event,
    ClaimSpec => PersistentVolumeClaim,
    StatefulSetSpec => StatefulSet,
    ControllerRevisionSpec => ControllerRevision,
    HpaSpec => HorizontalPodAutoscaler,
    KeyValueStoreSpec => KeyValueStore,
}

impl Resource for ConfigMap {
    const KIND: Kind = Kind::ConfigMap;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Resource for Namespace {
    const KIND: Kind = Kind::Namespace;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Resource for Secret {
    const KIND: Kind = Kind::Secret;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl OwnerReference {
    /// A reference to `owner` (its kind, name and uid).
    pub fn to<O: Resource>(owner: &O) -> OwnerReference {
        OwnerReference {
            kind: O::KIND.as_str().to_string(),
            name: owner.meta().name.as_str().to_string(),
            uid: owner.meta().uid.clone(),
        }
    }

    /// The kind this reference names, if wasmpod knows it.
    pub fn owner_kind(&self) -> Option<Kind> {
        Kind::from_kind(&self.kind)
    }

    /// Does this reference name `owner` (kind and name, and uid when both have one)?
    pub fn refers_to<O: Resource>(&self, owner: &O) -> bool {
        let meta = owner.meta();
        self.owner_kind() == Some(O::KIND)
            && self.name == meta.name.as_str()
            && match (&self.uid, &meta.uid) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Name;

    fn meta(name: &str) -> ObjectMeta {
        let mut meta = ObjectMeta::named(Name::try_from(name.to_string()).expect("name"));
        meta.namespace = Some("ns".into());
        meta
    }

    #[test]
    fn objects_know_their_kind_and_key() {
        let deployment = Deployment::of(
            meta("web"),
            serde_json::from_value(serde_json::json!({
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"component": "a.wasm"}},
            }))
            .expect("spec"),
        );
        assert_eq!(deployment.kind, "Deployment");
        assert_eq!(
            deployment.key(),
            ObjectKey::new(Kind::Deployment, "ns", "web")
        );
        assert_eq!(<ConfigMap as Resource>::KIND, Kind::ConfigMap);
        assert_eq!(Pod::KIND, Kind::Pod);
    }

    #[test]
    fn owner_references_compare_kind_name_and_uid() {
        let spec: PodSpec =
            serde_json::from_value(serde_json::json!({"component": "a.wasm"})).expect("spec");
        let mut owner = Pod::of(meta("owner"), spec.clone());
        owner.metadata.uid = Some("u1".into());
        let mut owned = Pod::of(meta("owned"), spec);
        owned.metadata.owner_references = vec![OwnerReference::to(&owner)];
        assert!(owned.is_owned_by(&owner));
        owner.metadata.uid = Some("u2".into());
        assert!(
            !owned.is_owned_by(&owner),
            "another object of the same name"
        );
        owned.metadata.owner_references[0].kind = "Deployment".into();
        owner.metadata.uid = Some("u1".into());
        assert!(!owned.is_owned_by(&owner), "another kind");
    }
}
