//! The StatefulSet controller: pods `NAME-0..N-1` with stable names, created one at a time in
//! order (ordinal i only once every lower one is Running and ready), each with its own claim per
//! volume claim template (`TEMPLATE-NAME-i`, created when missing and never deleted here: claims
//! outlive pods and the set). A pod that is deleted, fails or is evicted comes back with the same
//! name and so the same claims, which the scheduler puts back on their node. Scale-down removes
//! the highest ordinal first; a changed template replaces pods from the highest ordinal down.

use super::deployment::{template_hash, TEMPLATE_HASH_LABEL};
use super::pod_key;
use crate::events::EventDraft;
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use std::collections::{BTreeMap, HashSet};
use wasmpod_api::Resource as _;
use wasmpod_api::{
    ClaimVolumeSource, Kind, Name, ObjectKey, ObjectMeta, OwnerReference, PersistentVolumeClaim,
    Pod, PodPhase, StatefulSet, StatefulSetStatus, Volume,
};

/// Label carrying the pod's stable name, for services that select one replica.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

pub fn pod_name(set: &str, ordinal: u32) -> String {
    format!("{set}-{ordinal}")
}

/// The claim of template `template` for replica `ordinal` of `set`.
pub fn claim_name(template: &str, set: &str, ordinal: u32) -> String {
    format!("{template}-{set}-{ordinal}")
}

fn ordinal(set: &str, pod: &Pod) -> Option<u32> {
    let rest = pod.name().strip_prefix(set)?.strip_prefix('-')?;
    if rest.len() > 1 && rest.starts_with('0') {
        return None;
    }
    rest.parse().ok()
}

fn running_and_ready(pod: &Pod) -> bool {
    pod.status.phase == PodPhase::Running && pod.status.ready
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    let sets = registry.all::<StatefulSet>(None)?;
    let pods = registry.all::<Pod>(None)?;
    let claims: HashSet<(String, String)> = registry
        .all::<PersistentVolumeClaim>(None)?
        .iter()
        .map(|c| (c.namespace().to_string(), c.name().to_string()))
        .collect();
    let owned = super::pods_by_owner::<StatefulSet, _>(&pods);
    let mut writes = Vec::new();
    let mut events = Vec::new();
    let mut statuses = Vec::new();
    let mut live = HashSet::new();
    for set in &sets {
        let id = (set.namespace().to_string(), set.name().to_string());
        let pods = owned.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        live.insert(id);
        let status = reconcile_one(set, pods, &claims, &mut writes, &mut events)?;
        if status != set.status {
            statuses.push((set.key(), status));
        }
    }
    let orphans = super::orphan_removals(&owned, &live, chrono::Utc::now())?;
    super::finish_owner_pass::<StatefulSet, _>(
        registry,
        "statefulset-controller",
        orphans,
        writes,
        &events,
        statuses,
        |s| &mut s.status,
    )
}

fn reconcile_one(
    set: &StatefulSet,
    pods: &[&Pod],
    claims: &HashSet<(String, String)>,
    writes: &mut Vec<Write>,
    events: &mut Vec<EventDraft>,
) -> Result<StatefulSetStatus, RegistryError> {
    let key = set.key();
    let replicas = set.spec.replicas;
    let hash = template_hash(&set.spec.template);
    let mut by_ordinal: BTreeMap<u32, &Pod> = BTreeMap::new();
    for pod in pods {
        match ordinal(set.name(), pod) {
            Some(i) => {
                by_ordinal.insert(i, pod);
            }
            // Not a name this set would make: not ours to keep.
            None => writes.push(Write::Delete(pod_key(pod))),
        }
    }
    let status = StatefulSetStatus {
        replicas: by_ordinal.range(..replicas).count() as u32,
        ready_replicas: by_ordinal
            .range(..replicas)
            .filter(|(_, p)| p.status.ready)
            .count() as u32,
    };

    // The claims of every wanted pod exist (one deleted under its pod is made again, so the
    // pod, which waits while its claim is missing, can start on a fresh one).
    for &ordinal in by_ordinal.range(..replicas).map(|(i, _)| i) {
        ensure_claims(set, ordinal, claims, writes)?;
    }

    // Dead pods go; the next pass makes them again under the same name.
    let dead: Vec<u32> = by_ordinal
        .iter()
        .filter(|(_, p)| super::is_dead(p))
        .map(|(i, _)| *i)
        .collect();
    for i in &dead {
        if let Some(pod) = by_ordinal.remove(i) {
            writes.push(Write::Delete(pod_key(pod)));
            events.push(EventDraft::warning(
                key.clone(),
                "ReplacingPod",
                format!(
                    "pod {} is {}; recreating it",
                    pod.name(),
                    pod.display_status()
                ),
            ));
        }
    }
    if !dead.is_empty() {
        return Ok(status);
    }

    // Scale down: the highest ordinal first, one per pass. Claims stay.
    if let Some((&highest, pod)) = by_ordinal.range(replicas..).next_back() {
        writes.push(Write::Delete(pod_key(pod)));
        events.push(EventDraft::normal(
            key.clone(),
            "ScaledDown",
            format!(
                "deleted pod {} for {replicas} replica(s)",
                pod_name(set.name(), highest)
            ),
        ));
        return Ok(status);
    }

    // Scale up in order: make the first missing ordinal once every lower one is Running and ready.
    for ordinal in 0..replicas {
        match by_ordinal.get(&ordinal) {
            Some(pod) if running_and_ready(pod) => continue,
            Some(_) => return Ok(status),
            None => {
                ensure_claims(set, ordinal, claims, writes)?;
                let pod = new_pod(set, ordinal, &hash)?;
                writes.push(Write::Create(to_any(&pod_key(&pod), &pod)?));
                events.push(EventDraft::normal(
                    key.clone(),
                    "SuccessfulCreate",
                    format!("created pod {}", pod.name()),
                ));
                return Ok(status);
            }
        }
    }

    // All replicas are up and ready: replace one pod of an older template, highest ordinal first.
    let stale = by_ordinal
        .range(..replicas)
        .rev()
        .find(|(_, p)| p.metadata.labels.get(TEMPLATE_HASH_LABEL) != Some(&hash));
    if let Some((_, pod)) = stale {
        writes.push(Write::Delete(pod_key(pod)));
        events.push(EventDraft::normal(
            key.clone(),
            "RollingUpdate",
            format!("replacing pod {} with the new template", pod.name()),
        ));
    }
    Ok(status)
}

fn ensure_claims(
    set: &StatefulSet,
    ordinal: u32,
    claims: &HashSet<(String, String)>,
    writes: &mut Vec<Write>,
) -> Result<(), RegistryError> {
    for template in &set.spec.volume_claim_templates {
        let name = claim_name(&template.metadata.name, set.name(), ordinal);
        if claims.contains(&(set.namespace().to_string(), name.clone())) {
            continue;
        }
        let Ok(valid) = Name::try_from(name.clone()) else {
            tracing::warn!(
                statefulset = set.name(),
                claim = name,
                "claim name is not a valid name; not creating it"
            );
            continue;
        };
        let mut metadata = ObjectMeta::named(valid);
        metadata.namespace = Some(set.namespace().to_string());
        metadata.labels = set.spec.template.metadata.labels.clone();
        let claim: PersistentVolumeClaim =
            PersistentVolumeClaim::of(metadata, template.spec.clone());
        let key = ObjectKey::new(Kind::PersistentVolumeClaim, set.namespace(), &name);
        writes.push(Write::Create(to_any(&key, &claim)?));
    }
    Ok(())
}

fn new_pod(set: &StatefulSet, ordinal: u32, hash: &str) -> Result<Pod, RegistryError> {
    let name = pod_name(set.name(), ordinal);
    let valid = Name::try_from(name.clone()).map_err(|e| RegistryError::Invalid {
        key: format!("statefulsets/{}/{}", set.namespace(), set.name()),
        message: format!("pod name {name:?} is not valid: {e}"),
    })?;
    let mut metadata = ObjectMeta::named(valid);
    metadata.namespace = Some(set.namespace().to_string());
    metadata.labels = set.spec.template.metadata.labels.clone();
    metadata
        .labels
        .insert(TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    metadata
        .labels
        .insert(POD_NAME_LABEL.to_string(), name.clone());
    metadata.annotations = set.spec.template.metadata.annotations.clone();
    metadata.owner_references = vec![OwnerReference::to(set)];
    let mut spec = set.spec.template.spec.clone();
    spec.node_name = None;
    for template in &set.spec.volume_claim_templates {
        let volume = Volume {
            name: template.metadata.name.clone(),
            config_map: None,
            secret: None,
            persistent_volume_claim: Some(ClaimVolumeSource {
                claim_name: claim_name(&template.metadata.name, set.name(), ordinal),
                read_only: false,
            }),
            empty_dir: None,
        };
        spec.volumes.retain(|v| v.name != volume.name);
        spec.volumes.push(volume);
    }
    Ok(Pod::of(metadata, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;

    fn set(replicas: u32) -> StatefulSet {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }))
        .unwrap()
    }

    fn pods(reg: &Registry) -> Vec<Pod> {
        let mut pods: Vec<Pod> = reg.all_owned(None).unwrap();
        pods.sort_by(|a, b| a.name().cmp(b.name()));
        pods
    }

    fn names(reg: &Registry) -> Vec<String> {
        pods(reg).iter().map(|p| p.name().to_string()).collect()
    }

    fn make_ready(reg: &Registry, name: &str) {
        reg.modify::<Pod, _>(&ObjectKey::new(Kind::Pod, "default", name), |p| {
            p.status.phase = PodPhase::Running;
            p.status.ready = true;
            true
        })
        .unwrap();
    }

    fn apply(reg: &Registry, s: &StatefulSet) {
        reg.commit(vec![Write::Put(
            to_any(&ObjectKey::new(Kind::StatefulSet, "default", "web"), s).unwrap(),
        )])
        .unwrap();
    }

    #[test]
    fn pods_are_created_in_order_each_with_its_claim() {
        let (_d, reg) = registry();
        apply(&reg, &set(2));
        reconcile_all(&reg).unwrap();
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0"], "web-1 waits for web-0 to be ready");
        let web0 = &pods(&reg)[0];
        assert!(
            super::super::pods_by_owner::<StatefulSet, _>(std::slice::from_ref(web0))
                .contains_key(&("default".to_string(), "web".to_string()))
        );
        let volume = web0.spec.volumes.iter().find(|v| v.name == "data").unwrap();
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "data-web-0"
        );
        let claim: PersistentVolumeClaim = reg
            .get_typed(&ObjectKey::new(
                Kind::PersistentVolumeClaim,
                "default",
                "data-web-0",
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            claim.metadata.labels.get("app").map(String::as_str),
            Some("web")
        );
        assert!(
            claim.metadata.owner_references.is_empty(),
            "claims outlive the set"
        );
        make_ready(&reg, "web-0");
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0", "web-1"]);
        make_ready(&reg, "web-1");
        reconcile_all(&reg).unwrap();
        let status: StatefulSet = reg
            .get_typed(&ObjectKey::new(Kind::StatefulSet, "default", "web"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (status.status.replicas, status.status.ready_replicas),
            (2, 2)
        );
    }

    #[test]
    fn failed_pod_comes_back_under_its_name_and_scale_down_keeps_claims() {
        let (_d, reg) = registry();
        apply(&reg, &set(3));
        for name in ["web-0", "web-1", "web-2"] {
            reconcile_all(&reg).unwrap();
            make_ready(&reg, name);
        }
        reg.modify::<Pod, _>(&ObjectKey::new(Kind::Pod, "default", "web-1"), |p| {
            p.status.phase = PodPhase::Failed;
            true
        })
        .unwrap();
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0", "web-2"]);
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0", "web-1", "web-2"]);
        make_ready(&reg, "web-1");
        apply(&reg, &set(1));
        reconcile_all(&reg).unwrap();
        assert_eq!(
            names(&reg),
            ["web-0", "web-1"],
            "the highest ordinal goes first"
        );
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0"]);
        let claims: Vec<PersistentVolumeClaim> = reg.all_owned(None).unwrap();
        assert_eq!(claims.len(), 3, "claims are kept on scale down");
    }

    #[test]
    fn pods_of_a_deleted_set_are_collected_and_others_are_left_alone() {
        let (_d, reg) = registry();
        apply(&reg, &set(1));
        reconcile_all(&reg).unwrap();
        let mut foreign = pods(&reg)[0].clone();
        foreign.metadata.name = Name::try_from("other").unwrap();
        foreign.metadata.owner_references[0].kind = "Deployment".into();
        reg.commit(vec![
            Write::Delete(ObjectKey::new(Kind::StatefulSet, "default", "web")),
            Write::Put(to_any(&ObjectKey::new(Kind::Pod, "default", "other"), &foreign).unwrap()),
        ])
        .unwrap();
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["other"]);
    }
}
