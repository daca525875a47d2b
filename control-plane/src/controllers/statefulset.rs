//! The StatefulSet controller: pods `NAME-0..N-1` with stable names, each with its own claim per
//! volume claim template (`TEMPLATE-NAME-i`, created when missing and never deleted here: claims
//! outlive pods and the set). A pod that is deleted, fails or is evicted comes back with the same
//! name and so the same claims, which the scheduler puts back on their node.
//!
//! As Kubernetes' StatefulSet controller (`stateful_set_control.go`), with
//! `podManagementPolicy: OrderedReady` (the default) pods come and go one at a time: ordinal i is
//! made once every lower one is Running and ready, and a scale-down takes the highest ordinal
//! away first and the next only once that one is gone. `Parallel` makes and takes away all at
//! once. A changed template (`updateStrategy: RollingUpdate`) replaces pods from the highest
//! ordinal down, one at a time, the next only once the replaced one is back and ready.
//!
//! Pods are not deleted while they serve: they are marked terminating (`termination.rs`), their
//! node drains them, and the name comes free once they are gone.

use super::deployment::{template_hash, TEMPLATE_HASH_LABEL};
use super::{pod_key, termination};
use crate::events::EventDraft;
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};
use wasmpod_api::Resource as _;
use wasmpod_api::{
    ClaimVolumeSource, Kind, Name, ObjectKey, ObjectMeta, OwnerReference, PersistentVolumeClaim,
    Pod, PodManagementPolicy, PodPhase, StatefulSet, StatefulSetStatus, StatefulSetUpdateType,
    Volume,
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

/// Marked terminating: its node drains it; its name is taken until it is gone.
fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    reconcile_at(registry, Utc::now())
}

pub fn reconcile_at(registry: &Registry, now: DateTime<Utc>) -> Result<(), RegistryError> {
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
        let mut pass = Pass {
            set,
            now,
            claims: &claims,
            writes: &mut writes,
            events: &mut events,
        };
        match pass.reconcile(pods) {
            Ok(status) if status != set.status => statuses.push((set.key(), status)),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(statefulset = %set.key(), %error, "cannot reconcile; will retry");
            }
        }
    }
    let orphans = super::orphan_removals(&owned, &live, now)?;
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

/// One set's share of a pass.
struct Pass<'a> {
    set: &'a StatefulSet,
    now: DateTime<Utc>,
    claims: &'a HashSet<(String, String)>,
    writes: &'a mut Vec<Write>,
    events: &'a mut Vec<EventDraft>,
}

impl Pass<'_> {
    /// Does at most what one step of the set's policy allows and returns its status. Every
    /// early return waits for something (a pod to turn ready, or to be gone) that brings a
    /// later pass.
    fn reconcile(&mut self, pods: &[&Pod]) -> Result<StatefulSetStatus, RegistryError> {
        let set = self.set;
        let replicas = set.spec.replicas;
        let ordered = set.spec.pod_management_policy == PodManagementPolicy::OrderedReady;
        let hash = template_hash(&set.spec.template);
        let mut by_ordinal: BTreeMap<u32, &Pod> = BTreeMap::new();
        for pod in pods {
            match ordinal(set.name(), pod) {
                Some(i) => {
                    by_ordinal.insert(i, pod);
                }
                // Not a name this set would make: not ours to keep.
                None if !terminating(pod) => self.writes.push(termination::begin(pod, self.now)?),
                None => {}
            }
        }
        let wanted: Vec<&Pod> = by_ordinal
            .range(..replicas)
            .map(|(_, p)| *p)
            .filter(|p| !terminating(p))
            .collect();
        let is_new = |p: &Pod| p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&hash);
        let status = StatefulSetStatus {
            replicas: wanted.len() as u32,
            ready_replicas: wanted.iter().filter(|p| p.status.ready).count() as u32,
            updated_replicas: wanted.iter().filter(|p| is_new(p)).count() as u32,
            update_revision: Some(hash.clone()),
        };

        // The claims of every wanted pod exist (one deleted under its pod is made again, so the
        // pod, which waits while its claim is missing, can start on a fresh one).
        for &ordinal in by_ordinal.range(..replicas).map(|(i, _)| i) {
            self.ensure_claims(ordinal)?;
        }

        // Dead pods go (they serve no one); the next pass makes them again under the same name.
        let dead: Vec<&Pod> = by_ordinal
            .values()
            .copied()
            .filter(|p| !terminating(p) && super::is_dead(p))
            .collect();
        for pod in &dead {
            self.writes.push(Write::Delete(pod_key(pod)));
            self.events.push(EventDraft::warning(
                set.key(),
                "ReplacingPod",
                format!(
                    "pod {} is {}; recreating it",
                    pod.name(),
                    pod.display_status()
                ),
            ));
        }
        if !dead.is_empty() {
            return Ok(status);
        }

        // The wanted ordinals, lowest first: make what is missing; in order, wait for each to
        // be Running and ready (and for a terminating one to be gone) before the next.
        for ordinal in 0..replicas {
            let waits = match by_ordinal.get(&ordinal) {
                None => {
                    self.create(ordinal, &hash)?;
                    true
                }
                Some(pod) => terminating(pod) || !running_and_ready(pod),
            };
            if waits && ordered {
                return Ok(status);
            }
        }

        // Scale-down: the highest ordinal first. In order, one at a time, the next only once
        // the one before is gone; in parallel, all at once.
        let condemned: Vec<(u32, &Pod)> = by_ordinal
            .range(replicas..)
            .rev()
            .map(|(i, p)| (*i, *p))
            .collect();
        for (ordinal, pod) in &condemned {
            if !terminating(pod) {
                self.take_away(*ordinal, pod)?;
            }
            if ordered {
                return Ok(status);
            }
        }
        if !condemned.is_empty() {
            return Ok(status);
        }
        if set.spec.update_strategy.strategy_type == StatefulSetUpdateType::OnDelete {
            return Ok(status);
        }

        // Rolling update: from the highest ordinal down, one pod at a time, the next only once
        // the one replaced is back, Running and ready.
        for ordinal in (0..replicas).rev() {
            let Some(pod) = by_ordinal.get(&ordinal) else {
                return Ok(status);
            };
            if terminating(pod) {
                return Ok(status);
            }
            if !is_new(pod) {
                self.writes.push(termination::begin(pod, self.now)?);
                self.events.push(EventDraft::normal(
                    set.key(),
                    "RollingUpdate",
                    format!(
                        "replacing pod {} with the new template ({} of {replicas} updated)",
                        pod.name(),
                        status.updated_replicas
                    ),
                ));
                return Ok(status);
            }
            if !running_and_ready(pod) {
                return Ok(status);
            }
        }
        Ok(status)
    }

    /// Takes pod `ordinal` away for a scale-down: marked terminating when it serves (its node
    /// drains it), else deleted.
    fn take_away(&mut self, ordinal: u32, pod: &Pod) -> Result<(), RegistryError> {
        let write = termination::begin(pod, self.now)?;
        let replicas = self.set.spec.replicas;
        let name = pod_name(self.set.name(), ordinal);
        let message = match write {
            Write::Delete(_) => format!("deleted pod {name} for {replicas} replica(s)"),
            _ => format!(
                "pod {name} is terminating for {replicas} replica(s): it drains its in-flight requests, then goes"
            ),
        };
        self.writes.push(write);
        self.events
            .push(EventDraft::normal(self.set.key(), "ScaledDown", message));
        Ok(())
    }

    fn create(&mut self, ordinal: u32, hash: &str) -> Result<(), RegistryError> {
        self.ensure_claims(ordinal)?;
        let pod = new_pod(self.set, ordinal, hash)?;
        self.writes
            .push(Write::Create(to_any(&pod_key(&pod), &pod)?));
        self.events.push(EventDraft::normal(
            self.set.key(),
            "SuccessfulCreate",
            format!("created pod {}", pod.name()),
        ));
        Ok(())
    }

    fn ensure_claims(&mut self, ordinal: u32) -> Result<(), RegistryError> {
        ensure_claims(self.set, ordinal, self.claims, self.writes)
    }
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

    /// Pod `name` scheduled, Running and ready, as its node reports it.
    fn serve(reg: &Registry, name: &str) {
        reg.modify::<Pod, _>(&ObjectKey::new(Kind::Pod, "default", name), |p| {
            p.spec.node_name = Some("n1".into());
            p.status.phase = PodPhase::Running;
            p.status.ready = true;
            true
        })
        .unwrap();
    }

    /// Pod `name`'s node drained and stopped it; the pass that finishes terminations deletes it.
    fn drained(reg: &Registry, name: &str) {
        reg.modify::<Pod, _>(&ObjectKey::new(Kind::Pod, "default", name), |p| {
            p.status.phase = PodPhase::Succeeded;
            p.status.ready = false;
            p.status.reason = Some(termination::TERMINATED.into());
            true
        })
        .unwrap();
        let pods = reg.all::<Pod>(None).unwrap();
        reg.commit(termination::finish(&pods, Utc::now())).unwrap();
    }

    /// The pods marked terminating.
    fn terminating_names(reg: &Registry) -> Vec<String> {
        pods(reg)
            .iter()
            .filter(|p| terminating(p))
            .map(|p| p.name().to_string())
            .collect()
    }

    /// Applies `s` and brings every pod up, in order, Running and ready.
    fn up(reg: &Registry, s: &StatefulSet) {
        apply(reg, s);
        for ordinal in 0..s.spec.replicas {
            reconcile_all(reg).unwrap();
            serve(reg, &pod_name("web", ordinal));
        }
        reconcile_all(reg).unwrap();
    }

    fn event_reasons(reg: &Registry) -> Vec<String> {
        let events: Vec<wasmpod_api::Event> = reg.all_owned(None).unwrap();
        events.into_iter().map(|e| e.spec.reason).collect()
    }

    #[test]
    fn ordered_scale_down_drains_the_highest_first_and_the_next_only_once_it_is_gone() {
        let (_d, reg) = registry();
        up(&reg, &set(3));
        apply(&reg, &set(1));
        reconcile_all(&reg).unwrap();
        assert_eq!(terminating_names(&reg), ["web-2"], "marked, not deleted");
        assert_eq!(names(&reg), ["web-0", "web-1", "web-2"]);
        // Stopped by its node but not yet deleted: web-1 still waits, and web-2 is not
        // "replaced" as a dead pod.
        reg.modify::<Pod, _>(&ObjectKey::new(Kind::Pod, "default", "web-2"), |p| {
            p.status.phase = PodPhase::Succeeded;
            true
        })
        .unwrap();
        reconcile_all(&reg).unwrap();
        assert_eq!(terminating_names(&reg), ["web-2"]);
        assert!(!event_reasons(&reg).contains(&"ReplacingPod".to_string()));
        drained(&reg, "web-2");
        assert_eq!(names(&reg), ["web-0", "web-1"]);
        reconcile_all(&reg).unwrap();
        assert_eq!(terminating_names(&reg), ["web-1"]);
        drained(&reg, "web-1");
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0"]);
        assert!(terminating_names(&reg).is_empty());
        let status = reg.fetch::<StatefulSet>("default", "web").unwrap().unwrap();
        assert_eq!(
            (status.status.replicas, status.status.ready_replicas),
            (1, 1)
        );
    }

    #[test]
    fn parallel_sets_make_and_take_away_every_pod_at_once() {
        let (_d, reg) = registry();
        let mut s = set(3);
        s.spec.pod_management_policy = PodManagementPolicy::Parallel;
        apply(&reg, &s);
        reconcile_all(&reg).unwrap();
        assert_eq!(names(&reg), ["web-0", "web-1", "web-2"]);
        for name in ["web-0", "web-1", "web-2"] {
            serve(&reg, name);
        }
        s.spec.replicas = 1;
        apply(&reg, &s);
        reconcile_all(&reg).unwrap();
        assert_eq!(terminating_names(&reg), ["web-1", "web-2"]);
    }

    #[test]
    fn a_changed_template_replaces_the_highest_first_one_at_a_time_once_each_is_ready() {
        let (_d, reg) = registry();
        up(&reg, &set(3));
        let mut changed = set(3);
        changed.spec.template.spec.env = serde_json::from_value(serde_json::json!(
            [{"name": "VERSION", "value": "v2"}]
        ))
        .unwrap();
        let new_hash = template_hash(&changed.spec.template);
        apply(&reg, &changed);
        let ready = |reg: &Registry| {
            pods(reg)
                .iter()
                .filter(|p| !terminating(p) && running_and_ready(p))
                .count()
        };
        let is_new = |reg: &Registry, name: &str| {
            pods(reg).iter().any(|p| {
                p.name() == name && p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&new_hash)
            })
        };
        for name in ["web-2", "web-1", "web-0"] {
            reconcile_all(&reg).unwrap();
            assert_eq!(terminating_names(&reg), [name], "one at a time");
            assert!(ready(&reg) >= 2);
            reconcile_all(&reg).unwrap();
            assert_eq!(terminating_names(&reg), [name], "waits while it drains");
            drained(&reg, name);
            reconcile_all(&reg).unwrap();
            assert!(is_new(&reg, name), "{name} back with the new template");
            reconcile_all(&reg).unwrap();
            assert!(
                terminating_names(&reg).is_empty(),
                "the next waits for {name} to be ready"
            );
            serve(&reg, name);
        }
        reconcile_all(&reg).unwrap();
        let status = reg.fetch::<StatefulSet>("default", "web").unwrap().unwrap();
        assert_eq!(status.status.updated_replicas, 3);
        assert_eq!(status.status.update_revision.as_deref(), Some(&*new_hash));
    }

    #[test]
    fn on_delete_keeps_pods_until_they_are_deleted() {
        let (_d, reg) = registry();
        let mut s = set(2);
        s.spec.update_strategy.strategy_type = StatefulSetUpdateType::OnDelete;
        up(&reg, &s);
        s.spec.template.spec.env = serde_json::from_value(serde_json::json!(
            [{"name": "VERSION", "value": "v2"}]
        ))
        .unwrap();
        apply(&reg, &s);
        reconcile_all(&reg).unwrap();
        reconcile_all(&reg).unwrap();
        assert!(terminating_names(&reg).is_empty());
        reg.commit(vec![Write::Delete(ObjectKey::new(
            Kind::Pod,
            "default",
            "web-1",
        ))])
        .unwrap();
        reconcile_all(&reg).unwrap();
        let hash = template_hash(&s.spec.template);
        let web1 = pods(&reg)
            .into_iter()
            .find(|p| p.name() == "web-1")
            .unwrap();
        assert_eq!(web1.metadata.labels.get(TEMPLATE_HASH_LABEL), Some(&hash));
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
