//! The deployment controller: keeps `replicas` pods of each Deployment's current template,
//! rolls old-template pods away as new ones turn ready, replaces failed pods, collects orphans,
//! and writes the Deployment's status.

use super::pod_key;
use crate::events::EventDraft;
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use wasmpod_api::Resource as _;
use wasmpod_api::{
    Deployment, DeploymentStatus, Name, ObjectMeta, OwnerReference, Pod, PodTemplate,
};

/// Label carrying the hash of the template a pod was made from.
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

pub fn template_hash(template: &PodTemplate) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    hex::encode(Sha256::digest(&json))[..10].to_string()
}

/// Ordering for scale-down: unscheduled first, then not ready, then newest.
fn removal_order(a: &&Pod, b: &&Pod) -> std::cmp::Ordering {
    let rank = |p: &Pod| (p.spec.node_name.is_some(), p.status.ready);
    rank(a).cmp(&rank(b)).then_with(|| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    })
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    let deployments = registry.all::<Deployment>(None)?;
    let pods = registry.all::<Pod>(None)?;
    let owned = super::pods_by_owner::<Deployment, _>(&pods);
    let mut writes = Vec::new();
    let mut events = Vec::new();
    let mut statuses = Vec::new();
    let mut live = HashSet::new();
    for deployment in &deployments {
        let id = (
            deployment.namespace().to_string(),
            deployment.name().to_string(),
        );
        live.insert(id.clone());
        let pods = owned.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let status = reconcile_one(deployment, pods, &mut writes, &mut events);
        if status != deployment.status {
            statuses.push((deployment.key(), status));
        }
    }
    let orphans = super::orphan_deletes(&owned, &live);
    super::finish_owner_pass::<Deployment, _>(
        registry,
        "deployment-controller",
        orphans,
        writes,
        &events,
        statuses,
        |d| &mut d.status,
    )
}

fn reconcile_one(
    deployment: &Deployment,
    pods: &[&Pod],
    writes: &mut Vec<Write>,
    events: &mut Vec<EventDraft>,
) -> DeploymentStatus {
    let hash = template_hash(&deployment.spec.template);
    let key = deployment.key();
    let replicas = deployment.spec.replicas as usize;
    let (current, old): (Vec<&Pod>, Vec<&Pod>) = pods
        .iter()
        .partition(|p| p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&hash));
    let (dead, mut current): (Vec<&Pod>, Vec<&Pod>) =
        current.into_iter().partition(|p| super::is_dead(p));
    for pod in &dead {
        writes.push(Write::Delete(pod_key(pod)));
        events.push(EventDraft::warning(
            key.clone(),
            "ReplacingPod",
            format!(
                "pod {} is {}; replacing it",
                pod.name(),
                pod.display_status()
            ),
        ));
    }
    if current.len() < replicas {
        let missing = replicas - current.len();
        let mut created = 0;
        for _ in 0..missing {
            match new_pod(deployment, &hash).and_then(|pod| to_any(&pod_key(&pod), &pod)) {
                Ok(any) => {
                    writes.push(Write::Create(any));
                    created += 1;
                }
                Err(error) => {
                    // Every pod of this template would fail alike: say so once and stop.
                    tracing::warn!(deployment = %key, %error, missing, "cannot make a pod");
                    events.push(EventDraft::warning(
                        key.clone(),
                        "FailedCreate",
                        format!("cannot create a pod: {error}"),
                    ));
                    break;
                }
            }
        }
        if created > 0 {
            events.push(EventDraft::normal(
                key.clone(),
                "ScaledUp",
                format!("created {created} pod(s) for {replicas} replica(s)"),
            ));
        }
    } else if current.len() > replicas {
        current.sort_by(removal_order);
        let extra = current.len() - replicas;
        for pod in current.drain(..extra) {
            writes.push(Write::Delete(pod_key(pod)));
        }
        events.push(EventDraft::normal(
            key.clone(),
            "ScaledDown",
            format!("deleted {extra} pod(s) for {replicas} replica(s)"),
        ));
    }
    // Rolling update: old pods stay only while new ones are not ready to take their place.
    let ready_current = current.iter().filter(|p| p.status.ready).count();
    let keep_old = replicas.saturating_sub(ready_current);
    let mut old = old;
    if old.len() > keep_old {
        old.sort_by(removal_order);
        let remove = old.len() - keep_old;
        for pod in old.drain(..remove) {
            writes.push(Write::Delete(pod_key(pod)));
        }
        events.push(EventDraft::normal(
            key.clone(),
            "RollingUpdate",
            format!("removed {remove} pod(s) of an older template"),
        ));
    }
    let ready_old = old.iter().filter(|p| p.status.ready).count();
    DeploymentStatus {
        replicas: (current.len() + old.len()) as u32,
        ready_replicas: (ready_current + ready_old) as u32,
        updated_replicas: current.len() as u32,
        observed_generation: deployment.metadata.generation.unwrap_or(0),
    }
}

fn new_pod(deployment: &Deployment, hash: &str) -> Result<Pod, RegistryError> {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect();
    let base: String = deployment.name().chars().take(45).collect();
    let name = format!("{}-{}-{suffix}", base.trim_end_matches('-'), &hash[..5]);
    let name = Name::try_from(name.clone()).map_err(|e| RegistryError::Invalid {
        key: deployment.key().to_string(),
        message: format!("pod name {name:?} is not valid: {e}"),
    })?;
    let mut metadata = ObjectMeta::named(name);
    metadata.namespace = Some(deployment.namespace().to_string());
    metadata.labels = deployment.spec.template.metadata.labels.clone();
    metadata
        .labels
        .insert(TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    metadata.annotations = deployment.spec.template.metadata.annotations.clone();
    metadata.owner_references = vec![OwnerReference::to(deployment)];
    let mut spec = deployment.spec.template.spec.clone();
    spec.node_name = None;
    Ok(Pod::of(metadata, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use wasmpod_api::Event;
    use wasmpod_api::{Kind, ObjectKey, PodPhase, RestartPolicy};

    fn deployment(replicas: u32, version: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "env": [{"name": "VERSION", "value": version}]}}
            }
        }))
        .unwrap()
    }

    fn apply(reg: &Registry, d: &Deployment) {
        reg.commit(vec![Write::Put(
            to_any(&ObjectKey::new(Kind::Deployment, "default", "web"), d).unwrap(),
        )])
        .unwrap();
    }

    fn pods(reg: &Registry) -> Vec<Pod> {
        let mut pods: Vec<Pod> = reg.all_owned(None).unwrap();
        pods.sort_by(|a, b| a.name().cmp(b.name()));
        pods
    }

    /// The pods made from `version`'s template.
    fn of(reg: &Registry, version: &str) -> Vec<Pod> {
        let hash = template_hash(&deployment(1, version).spec.template);
        pods(reg)
            .into_iter()
            .filter(|p| p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&hash))
            .collect()
    }

    fn set_status(reg: &Registry, pod: &Pod, phase: PodPhase, ready: bool) {
        reg.modify::<Pod, _>(&pod_key(pod), |p| {
            p.spec.node_name = Some("n1".into());
            p.status.phase = phase;
            p.status.ready = ready;
            true
        })
        .unwrap();
    }

    fn ready_count(reg: &Registry) -> usize {
        pods(reg).iter().filter(|p| p.status.ready).count()
    }

    fn reasons(reg: &Registry) -> Vec<String> {
        let events: Vec<Event> = reg.all_owned(None).unwrap();
        events.into_iter().map(|e| e.spec.reason).collect()
    }

    fn status(reg: &Registry) -> DeploymentStatus {
        reg.fetch::<Deployment>("default", "web")
            .unwrap()
            .unwrap()
            .status
    }

    #[test]
    fn a_changed_template_replaces_old_pods_only_as_new_ones_turn_ready() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(2, "v1"));
        reconcile_all(&reg).unwrap();
        let v1 = of(&reg, "v1");
        assert_eq!(v1.len(), 2);
        for p in &v1 {
            set_status(&reg, p, PodPhase::Running, true);
        }
        reconcile_all(&reg).unwrap();
        assert_eq!(pods(&reg).len(), 2, "a settled deployment makes nothing");

        apply(&reg, &deployment(2, "v2"));
        reconcile_all(&reg).unwrap();
        let v2 = of(&reg, "v2");
        assert_eq!(v2.len(), 2, "the new template's pods are created at once");
        assert_eq!(
            of(&reg, "v1").len(),
            2,
            "old pods stay while no new one is ready"
        );
        let uid = reg
            .fetch::<Deployment>("default", "web")
            .unwrap()
            .unwrap()
            .metadata
            .uid;
        assert!(v2.iter().all(|p| p.metadata.owner_references[0].uid == uid));
        reconcile_all(&reg).unwrap();
        assert_eq!(
            pods(&reg).len(),
            4,
            "nothing changes until a new pod is ready"
        );

        // One new pod ready: one old pod goes; serving capacity never drops below the replicas.
        set_status(&reg, &v2[0], PodPhase::Running, true);
        reconcile_all(&reg).unwrap();
        assert_eq!(of(&reg, "v1").len(), 1);
        assert!(ready_count(&reg) >= 2);
        let s = status(&reg);
        assert_eq!(
            (s.replicas, s.ready_replicas, s.updated_replicas),
            (3, 2, 2)
        );

        set_status(&reg, &v2[1], PodPhase::Running, true);
        reconcile_all(&reg).unwrap();
        assert!(of(&reg, "v1").is_empty(), "every old pod gone");
        let names = |ps: Vec<Pod>| -> Vec<String> { ps.iter().map(|p| p.name().into()).collect() };
        assert_eq!(names(pods(&reg)), names(v2));
        let s = status(&reg);
        assert_eq!(
            (s.replicas, s.ready_replicas, s.updated_replicas),
            (2, 2, 2)
        );
        assert!(reasons(&reg).contains(&"RollingUpdate".to_string()));
    }

    #[test]
    fn old_pods_that_do_not_serve_go_first() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(2, "v1"));
        reconcile_all(&reg).unwrap();
        let v1 = of(&reg, "v1");
        set_status(&reg, &v1[0], PodPhase::Running, true);
        set_status(&reg, &v1[1], PodPhase::Running, false);
        apply(&reg, &deployment(2, "v2"));
        reconcile_all(&reg).unwrap();
        let v2 = of(&reg, "v2");
        set_status(&reg, &v2[0], PodPhase::Running, true);
        reconcile_all(&reg).unwrap();
        let left = of(&reg, "v1");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name(), v1[0].name(), "the ready old pod is kept");
    }

    #[test]
    fn a_new_rollout_during_a_rollout_keeps_the_pods_that_serve() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(2, "v1"));
        reconcile_all(&reg).unwrap();
        for p in &of(&reg, "v1") {
            set_status(&reg, p, PodPhase::Running, true);
        }
        // v2 never turns ready; v3 replaces it: v2's pods go, v1's stay until v3 serves.
        apply(&reg, &deployment(2, "v2"));
        reconcile_all(&reg).unwrap();
        assert_eq!(of(&reg, "v2").len(), 2);
        apply(&reg, &deployment(2, "v3"));
        reconcile_all(&reg).unwrap();
        assert!(of(&reg, "v2").is_empty(), "{:?}", pods(&reg));
        assert_eq!(of(&reg, "v1").len(), 2);
        assert_eq!(of(&reg, "v3").len(), 2);
        for p in &of(&reg, "v3") {
            set_status(&reg, p, PodPhase::Running, true);
        }
        reconcile_all(&reg).unwrap();
        assert!(of(&reg, "v1").is_empty());
        assert_eq!(pods(&reg).len(), 2);
    }

    #[test]
    fn dead_pods_are_replaced_and_finished_ones_are_kept() {
        let (_d, reg) = registry();
        let mut d = deployment(1, "v1");
        apply(&reg, &d);
        reconcile_all(&reg).unwrap();
        // restartPolicy Always: a pod that stopped is replaced.
        let first = pods(&reg).remove(0);
        set_status(&reg, &first, PodPhase::Succeeded, false);
        reconcile_all(&reg).unwrap();
        let now = pods(&reg);
        assert_eq!(now.len(), 1);
        assert_ne!(now[0].name(), first.name(), "replaced");
        assert!(reasons(&reg).contains(&"ReplacingPod".to_string()));

        // OnFailure and Never: a pod that finished under its own policy stays finished.
        for (policy, phase) in [
            (RestartPolicy::OnFailure, PodPhase::Succeeded),
            (RestartPolicy::Never, PodPhase::Succeeded),
            (RestartPolicy::Never, PodPhase::Failed),
        ] {
            d.spec.template.spec.restart_policy = policy;
            apply(&reg, &d);
            // Roll to this template (the old pod goes once the new one is ready).
            reconcile_all(&reg).unwrap();
            let hash = template_hash(&d.spec.template);
            let pod = pods(&reg)
                .into_iter()
                .find(|p| p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&hash))
                .unwrap();
            set_status(&reg, &pod, PodPhase::Running, true);
            reconcile_all(&reg).unwrap();
            set_status(&reg, &pod, phase, false);
            reconcile_all(&reg).unwrap();
            reconcile_all(&reg).unwrap();
            let now = pods(&reg);
            assert_eq!(
                now.iter().map(|p| p.name()).collect::<Vec<_>>(),
                [pod.name()],
                "{policy:?} {phase:?}: kept, not replaced"
            );
        }
    }

    #[test]
    fn scaling_down_removes_unscheduled_then_unready_pods_first() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(3, "v1"));
        reconcile_all(&reg).unwrap();
        let all = pods(&reg);
        set_status(&reg, &all[0], PodPhase::Running, true);
        set_status(&reg, &all[1], PodPhase::Running, false);
        // all[2] stays unscheduled.
        apply(&reg, &deployment(1, "v1"));
        reconcile_all(&reg).unwrap();
        let left = pods(&reg);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name(), all[0].name());
        assert!(reasons(&reg).contains(&"ScaledDown".to_string()));
    }
}
