//! The deployment controller: keeps `replicas` pods of each Deployment's current template,
//! rolls old-template pods away as new ones turn ready, replaces failed pods, collects orphans,
//! and writes the Deployment's status.

use super::pod_key;
use crate::registry::{to_any, EventDraft, Registry, RegistryError, Write};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use wasmpod_api::{
    Deployment, DeploymentStatus, Kind, Name, Object, ObjectKey, ObjectMeta, OwnerReference, Pod,
    PodPhase, PodTemplate, RestartPolicy,
};

/// Label carrying the hash of the template a pod was made from.
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

pub fn template_hash(template: &PodTemplate) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    hex::encode(Sha256::digest(&json))[..10].to_string()
}

/// A pod that will not serve again and should be replaced.
fn is_dead(pod: &Pod) -> bool {
    match pod.status.phase {
        PodPhase::Failed => true,
        PodPhase::Succeeded => pod.spec.restart_policy == RestartPolicy::Always,
        _ => false,
    }
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
    let deployments = registry.list_shared::<Deployment>(Kind::Deployment, None)?;
    let pods = registry.list_shared::<Pod>(Kind::Pod, None)?;
    let owned = super::pods_by_owner(&pods, "Deployment");
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
            statuses.push((
                ObjectKey::new(Kind::Deployment, deployment.namespace(), deployment.name()),
                status,
            ));
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
    let key = ObjectKey::new(Kind::Deployment, deployment.namespace(), deployment.name());
    let replicas = deployment.spec.replicas as usize;
    let (current, old): (Vec<&Pod>, Vec<&Pod>) = pods
        .iter()
        .partition(|p| p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&hash));
    let (dead, mut current): (Vec<&Pod>, Vec<&Pod>) = current.into_iter().partition(|p| is_dead(p));
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
        for _ in 0..missing {
            if let Some(pod) = new_pod(deployment, &hash) {
                if let Ok(any) = to_any(&pod_key(&pod), &pod) {
                    writes.push(Write::Create(any));
                }
            }
        }
        events.push(EventDraft::normal(
            key.clone(),
            "ScaledUp",
            format!("created {missing} pod(s) for {replicas} replica(s)"),
        ));
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

fn new_pod(deployment: &Deployment, hash: &str) -> Option<Pod> {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect();
    let base: String = deployment.name().chars().take(45).collect();
    let name = Name::try_from(format!(
        "{}-{}-{suffix}",
        base.trim_end_matches('-'),
        &hash[..5]
    ))
    .ok()?;
    let mut metadata = ObjectMeta::named(name);
    metadata.namespace = Some(deployment.namespace().to_string());
    metadata.labels = deployment.spec.template.metadata.labels.clone();
    metadata
        .labels
        .insert(TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    metadata.annotations = deployment.spec.template.metadata.annotations.clone();
    metadata.owner_references = vec![OwnerReference {
        kind: "Deployment".into(),
        name: deployment.name().to_string(),
        uid: deployment.metadata.uid.clone(),
    }];
    let mut spec = deployment.spec.template.spec.clone();
    spec.node_name = None;
    Some(Object::new(Kind::Pod, metadata, spec))
}
