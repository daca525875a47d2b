//! Namespace deletion, as Kubernetes does it: a deleted namespace whose pods still drain stays,
//! `Terminating` (`status.phase`, `metadata.deletionTimestamp`), so that its name cannot be
//! taken again while pods of the old one run (the API refuses to create it, or anything in it,
//! with 409), and listing it shows the pods that drain. Everything else in it goes at once; its
//! pods are marked terminating ([`termination::cascade`]). This controller deletes the namespace,
//! with whatever was recorded in it meanwhile (events of the draining pods), once its last pod
//! is gone.

use super::termination;
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use chrono::{DateTime, Utc};
use wasmpod_api::{Kind, Namespace, NamespacePhase, ObjectKey, Pod};

/// What a namespace's deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Nothing in it served: it is gone.
    Deleted,
    /// `draining` pods drain; it is `Terminating` until they are gone.
    Terminating { draining: usize },
}

/// Deletes namespace `name`: everything in it but its pods goes in one commit with the
/// namespace's `Terminating` mark; its pods are taken away as an owner's are (drained when they
/// serve); when none drains, the namespace goes at once. Deleting a namespace already
/// terminating does it again (nothing new to do but what a pass would).
pub fn delete(
    registry: &Registry,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Deletion>, RegistryError> {
    let key = ObjectKey::new(Kind::Namespace, "", name);
    let Some(mut namespace) = registry.get_typed::<Namespace>(&key)? else {
        return Ok(None);
    };
    let mut writes = Vec::new();
    let mut pods = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
        let (items, _) = registry.list(kind, Some(name))?;
        let keys = items.iter().filter_map(|o| o.key());
        match kind {
            Kind::Pod => pods.extend(keys),
            _ => writes.extend(keys.map(Write::Delete)),
        }
    }
    if !namespace.is_terminating() {
        namespace.status.phase = Some(NamespacePhase::Terminating);
        namespace.metadata.deletion_timestamp = Some(now);
        // Conditional: a namespace changed since it was read is refused (409), not overwritten.
        writes.push(Write::Update(to_any(&key, &namespace)?));
    }
    registry.commit(writes)?;
    let cascade = termination::cascade(registry, &pods, now)?;
    tracing::info!(
        namespace = name,
        draining = cascade.draining,
        deleted_pods = cascade.deleted,
        "namespace terminating"
    );
    if cascade.draining > 0 {
        return Ok(Some(Deletion::Terminating {
            draining: cascade.draining,
        }));
    }
    finish(registry, name)?;
    Ok(Some(Deletion::Deleted))
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    reconcile_at(registry, Utc::now())
}

/// Each terminating namespace: gone once no pod is left in it; until then a pod in it that is
/// not terminating (one made while it was being marked) is taken away too.
pub fn reconcile_at(registry: &Registry, now: DateTime<Utc>) -> Result<(), RegistryError> {
    for namespace in registry.all::<Namespace>(None)? {
        if !namespace.is_terminating() {
            continue;
        }
        let name = namespace.name();
        let pods = registry.all::<Pod>(Some(name))?;
        if pods.is_empty() {
            finish(registry, name)?;
            continue;
        }
        let stragglers = termination::orphans(pods.iter().map(|p| &**p), now)?;
        super::commit_each(registry, "namespace-controller", stragglers)?;
    }
    Ok(())
}

/// Deletes namespace `name` and every object left in it, in one commit.
fn finish(registry: &Registry, name: &str) -> Result<(), RegistryError> {
    let mut writes = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
        let (items, _) = registry.list(kind, Some(name))?;
        writes.extend(items.iter().filter_map(|o| o.key()).map(Write::Delete));
    }
    writes.push(Write::Delete(ObjectKey::new(Kind::Namespace, "", name)));
    registry.commit(writes)?;
    tracing::info!(namespace = name, "namespace deleted: no pod of it is left");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use wasmpod_api::Resource as _;
    use wasmpod_api::{Name, ObjectMeta, PodPhase, PodSpec};

    fn pod(name: &str, node: Option<&str>) -> Pod {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "component": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        }))
        .unwrap();
        let mut meta = ObjectMeta::named(Name::try_from(name).unwrap());
        meta.namespace = Some("shop".into());
        let mut p: Pod = Pod::of(meta, spec);
        p.spec.node_name = node.map(str::to_string);
        p.status.phase = PodPhase::Running;
        p
    }

    fn put(reg: &Registry, key: ObjectKey, object: &impl serde::Serialize) {
        reg.commit(vec![Write::Put(to_any(&key, object).unwrap())])
            .unwrap();
    }

    fn shop(reg: &Registry) -> Option<Namespace> {
        reg.get_typed(&ObjectKey::new(Kind::Namespace, "", "shop"))
            .unwrap()
    }

    fn setup(reg: &Registry) {
        let ns = Namespace::named(Name::try_from("shop").unwrap());
        put(reg, ns.key(), &ns);
        let running = pod("running", Some("n1"));
        put(reg, running.key(), &running);
        let waiting = pod("waiting", None);
        put(reg, waiting.key(), &waiting);
        let mut meta = ObjectMeta::named(Name::try_from("conf").unwrap());
        meta.namespace = Some("shop".into());
        let config = wasmpod_api::ConfigMap {
            api_version: wasmpod_api::API_VERSION.into(),
            kind: "ConfigMap".into(),
            metadata: meta,
            data: Default::default(),
        };
        put(reg, config.key(), &config);
    }

    #[test]
    fn a_namespace_stays_terminating_until_its_last_pod_is_gone() {
        let (_d, reg) = registry();
        setup(&reg);
        let outcome = delete(&reg, "shop", Utc::now()).unwrap();
        assert_eq!(outcome, Some(Deletion::Terminating { draining: 1 }));
        let ns = shop(&reg).expect("still there");
        assert!(ns.is_terminating() && ns.metadata.deletion_timestamp.is_some());
        let pods = reg.all::<Pod>(Some("shop")).unwrap();
        assert_eq!(pods.len(), 1, "the unscheduled pod went at once");
        assert!(pods[0].metadata.deletion_timestamp.is_some());
        let (configs, _) = reg.list(Kind::ConfigMap, Some("shop")).unwrap();
        assert!(configs.is_empty(), "the rest goes at once");

        reconcile_all(&reg).unwrap();
        assert!(shop(&reg).is_some(), "a pod still drains");
        // An event recorded while it drains goes with the namespace.
        let event = crate::events::EventDraft::normal(
            ObjectKey::new(Kind::Pod, "shop", "running"),
            "Killing",
            "stopped",
        );
        crate::events::Recorder::new(&reg, "test").record(&[event]);
        reg.commit(vec![Write::Delete(ObjectKey::new(
            Kind::Pod,
            "shop",
            "running",
        ))])
        .unwrap();
        reconcile_all(&reg).unwrap();
        assert!(shop(&reg).is_none(), "gone with its last pod");
        let (events, _) = reg.list(Kind::Event, Some("shop")).unwrap();
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_namespace_with_nothing_to_drain_goes_at_once() {
        let (_d, reg) = registry();
        setup(&reg);
        reg.commit(vec![Write::Delete(ObjectKey::new(
            Kind::Pod,
            "shop",
            "running",
        ))])
        .unwrap();
        assert_eq!(
            delete(&reg, "shop", Utc::now()).unwrap(),
            Some(Deletion::Deleted)
        );
        assert!(shop(&reg).is_none());
        assert!(reg.all::<Pod>(Some("shop")).unwrap().is_empty());
        assert_eq!(delete(&reg, "shop", Utc::now()).unwrap(), None);
    }

    #[test]
    fn a_pod_that_slipped_into_a_terminating_namespace_is_taken_away_too() {
        let (_d, reg) = registry();
        setup(&reg);
        delete(&reg, "shop", Utc::now()).unwrap();
        let late = pod("late", Some("n1"));
        put(&reg, late.key(), &late);
        reconcile_all(&reg).unwrap();
        let late: Pod = reg.get_typed(&late.key()).unwrap().unwrap();
        assert!(late.metadata.deletion_timestamp.is_some());
    }
}
