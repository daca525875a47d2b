//! Claim protection: a PersistentVolumeClaim deleted while pods use it is only marked
//! `Terminating` (by the API server); this controller deletes it once no scheduled pod uses it.
//! The scheduler never binds a new pod to a Terminating claim, so it cannot gain users.

use crate::events::{EventDraft, Recorder};
use crate::registry::{Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use std::collections::HashSet;
use wasmpod_api::Resource as _;
use wasmpod_api::{ClaimPhase, PersistentVolumeClaim, Pod, PodPhase};

/// The claims `pod` mounts, by name (in the pod's namespace).
pub fn claim_names(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .volumes
        .iter()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

/// A pod that has not finished: it uses its claims, or may soon.
fn alive(pod: &Pod) -> bool {
    !matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// Names of the pods that keep claim `namespace/name` from being deleted right now: every pod
/// that has not finished and mounts it, scheduled or not (an unscheduled one may bind any moment).
pub fn users<'a>(pods: &'a [Pod], namespace: &str, name: &str) -> Vec<&'a str> {
    pods.iter()
        .filter(|p| p.namespace() == namespace && alive(p) && claim_names(p).any(|c| c == name))
        .map(|p| p.name())
        .collect()
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    let claims = registry.all::<PersistentVolumeClaim>(None)?;
    if !claims
        .iter()
        .any(|c| c.status.phase == ClaimPhase::Terminating)
    {
        return Ok(());
    }
    let pods = registry.all::<Pod>(None)?;
    // Only scheduled pods hold a Terminating claim: an unscheduled one can no longer bind it.
    let held: HashSet<(&str, &str)> = pods
        .iter()
        .filter(|p| alive(p) && p.spec.node_name.is_some())
        .flat_map(|p| claim_names(p).map(move |c| (p.namespace(), c)))
        .collect();
    let mut writes = Vec::new();
    let mut events = Vec::new();
    for claim in claims
        .iter()
        .filter(|c| c.status.phase == ClaimPhase::Terminating)
    {
        if !held.contains(&(claim.namespace(), claim.name())) {
            let key = claim.key();
            tracing::info!(claim = %key, "no pod uses the terminating claim any more; deleting it");
            events.push(EventDraft::normal(
                key.clone(),
                "ClaimDeleted",
                format!(
                    "persistentvolumeclaim {:?} is no longer in use and was deleted",
                    claim.name()
                ),
            ));
            writes.push(Write::Delete(key));
        }
    }
    if !writes.is_empty() {
        registry.commit(writes)?;
    }
    Recorder::new(registry, "claim-protection").record(&events);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use crate::registry::to_any;
    use wasmpod_api::{Kind, Name, ObjectKey, ObjectMeta, PodSpec};

    fn claim(name: &str, phase: ClaimPhase) -> PersistentVolumeClaim {
        let mut meta = ObjectMeta::named(Name::try_from(name).unwrap());
        meta.namespace = Some("default".into());
        let mut c: PersistentVolumeClaim = PersistentVolumeClaim::of(meta, Default::default());
        c.status.phase = phase;
        c
    }

    fn pod(name: &str, claim: &str, node: Option<&str>) -> Pod {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "component": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        }))
        .unwrap();
        let mut meta = ObjectMeta::named(Name::try_from(name).unwrap());
        meta.namespace = Some("default".into());
        let mut p: Pod = Pod::of(meta, spec);
        p.spec.node_name = node.map(str::to_string);
        p
    }

    fn put<T: serde::Serialize>(reg: &Registry, kind: Kind, name: &str, object: &T) {
        let key = ObjectKey::new(kind, "default", name);
        reg.commit(vec![Write::Put(to_any(&key, object).unwrap())])
            .unwrap();
    }

    #[test]
    fn users_are_unfinished_pods_that_mount_the_claim() {
        let mut done = pod("done", "data", Some("a"));
        done.status.phase = PodPhase::Succeeded;
        let pods = vec![
            pod("a", "data", Some("a")),
            pod("b", "data", None),
            pod("c", "other", Some("a")),
            done,
        ];
        assert_eq!(users(&pods, "default", "data"), vec!["a", "b"]);
        assert!(users(&pods, "elsewhere", "data").is_empty());
    }

    #[test]
    fn terminating_claim_goes_once_no_scheduled_pod_uses_it() {
        let (_d, reg) = registry();
        put(
            &reg,
            Kind::PersistentVolumeClaim,
            "data",
            &claim("data", ClaimPhase::Terminating),
        );
        put(
            &reg,
            Kind::PersistentVolumeClaim,
            "kept",
            &claim("kept", ClaimPhase::Bound),
        );
        put(&reg, Kind::Pod, "user", &pod("user", "data", Some("a")));
        put(&reg, Kind::Pod, "waiting", &pod("waiting", "data", None));
        let data = ObjectKey::new(Kind::PersistentVolumeClaim, "default", "data");
        reconcile_all(&reg).unwrap();
        assert!(
            reg.get(&data).unwrap().is_some(),
            "a scheduled pod still uses it"
        );
        reg.commit(vec![Write::Delete(ObjectKey::new(
            Kind::Pod,
            "default",
            "user",
        ))])
        .unwrap();
        reconcile_all(&reg).unwrap();
        assert!(
            reg.get(&data).unwrap().is_none(),
            "only an unscheduled pod refers to it"
        );
        assert!(reg
            .get(&ObjectKey::new(
                Kind::PersistentVolumeClaim,
                "default",
                "kept"
            ))
            .unwrap()
            .is_some());
    }
}
