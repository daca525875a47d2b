//! The deployment controller: keeps `replicas` pods of each Deployment's current revision,
//! rolls old-revision pods away by the deployment's strategy (`rollout_plan.rs`), records each
//! template as a revision (`revisions.rs`), replaces failed pods, collects orphans, writes the
//! Deployment's status and conditions (`deployment_status.rs`), and, when the deployment opts
//! in, rolls a revision that passed its progress deadline back to the last one that completed.
//!
//! Pods are not deleted while they serve: they are marked terminating (`termination.rs`) and
//! their node drains them first.

use super::deployment_status::{self as conditions, Progress};
use super::rollout_plan::{self, Counts};
use super::{pod_key, revisions, termination};
use crate::events::EventDraft;
use crate::registry::{to_any, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use wasmpod_api::Resource as _;
use wasmpod_api::{
    ConditionStatus, ConditionType, ControllerRevision, Deployment, DeploymentStatus, Name,
    ObjectKey, ObjectMeta, OwnerReference, Pod, PodPhase, PodTemplate, REVISION_ANNOTATION,
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

/// Ready for at least `min_ready` seconds.
fn available(pod: &Pod, min_ready: u64, now: DateTime<Utc>) -> bool {
    pod.status.ready
        && pod.status.phase == PodPhase::Running
        && (min_ready == 0
            || pod
                .status
                .ready_since
                .is_some_and(|since| (now - since).num_seconds() >= min_ready as i64))
}

/// A rollback one pass decided: the deployment goes back to `template`.
struct Rollback {
    key: ObjectKey,
    uid: Option<String>,
    template: PodTemplate,
}

pub fn reconcile_all(registry: &Registry) -> Result<(), RegistryError> {
    reconcile_at(registry, Utc::now())
}

pub fn reconcile_at(registry: &Registry, now: DateTime<Utc>) -> Result<(), RegistryError> {
    let deployments = registry.all::<Deployment>(None)?;
    let pods = registry.all::<Pod>(None)?;
    let all_revisions = registry.all::<ControllerRevision>(None)?;
    let mut writes = termination::finish(&pods, now);
    let owned = super::pods_by_owner::<Deployment, _>(&pods);
    let revisions_of = revisions::by_owner(&all_revisions);
    let mut events = Vec::new();
    let mut statuses = Vec::new();
    let mut rollbacks = Vec::new();
    let mut live = HashMap::new();
    let mut current = HashMap::new();
    for deployment in &deployments {
        let id = (
            deployment.namespace().to_string(),
            deployment.name().to_string(),
        );
        live.insert(id.clone(), &**deployment);
        let pods = owned.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let revs = revisions_of.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let mut pass = Pass {
            deployment,
            now,
            writes: &mut writes,
            events: &mut events,
        };
        match pass.reconcile(registry, pods, revs) {
            Ok((status, rollback)) => {
                if let Some(hash) = &status.current_hash {
                    current.insert(id, hash.clone());
                }
                if status != deployment.status {
                    statuses.push((deployment.key(), status));
                }
                rollbacks.extend(rollback);
            }
            Err(error) => {
                tracing::warn!(deployment = %deployment.key(), %error, "cannot reconcile; will retry");
            }
        }
    }
    writes.extend(revisions::collect(&revisions_of, &live, &owned, &current));
    let live_ids = live.keys().cloned().collect();
    let orphans = super::orphan_removals(&owned, &live_ids, now)?;
    super::finish_owner_pass::<Deployment, _>(
        registry,
        "deployment-controller",
        orphans,
        writes,
        &events,
        statuses,
        |d| &mut d.status,
    )?;
    for rollback in rollbacks {
        // The template goes back only if the deployment is still the one this pass read.
        registry.modify::<Deployment, _>(&rollback.key, |d| {
            if d.metadata.uid != rollback.uid || d.spec.template == rollback.template {
                return false;
            }
            d.spec.template = rollback.template.clone();
            true
        })?;
    }
    Ok(())
}

/// One deployment's share of a pass.
struct Pass<'a> {
    deployment: &'a Deployment,
    now: DateTime<Utc>,
    writes: &'a mut Vec<Write>,
    events: &'a mut Vec<EventDraft>,
}

impl Pass<'_> {
    fn reconcile(
        &mut self,
        registry: &Registry,
        pods: &[&Pod],
        revs: &[&ControllerRevision],
    ) -> Result<(DeploymentStatus, Option<Rollback>), RegistryError> {
        let deployment = self.deployment;
        let key = deployment.key();
        let spec = &deployment.spec;
        let previous = &deployment.status;
        // Paused: stay on the revision rolled to before, whatever the template says now.
        let paused_on = previous
            .current_hash
            .as_ref()
            .filter(|_| spec.paused)
            .and_then(|hash| revs.iter().find(|r| &r.spec.template_hash == hash));
        let template = paused_on.map_or(&spec.template, |r| &r.spec.template);
        let target = revisions::current(
            registry,
            deployment,
            template,
            revs,
            previous.current_hash.as_deref(),
            self.writes,
        )?;
        let replicas = spec.replicas;
        let min_ready = spec.min_ready_seconds;
        let (terminating, live): (Vec<&Pod>, Vec<&Pod>) = pods
            .iter()
            .partition(|p| p.metadata.deletion_timestamp.is_some());
        let (dead, live): (Vec<&Pod>, Vec<&Pod>) =
            live.into_iter().partition(|p| super::is_dead(p));
        for pod in &dead {
            self.writes.push(Write::Delete(pod_key(pod)));
            self.events.push(EventDraft::warning(
                key.clone(),
                "ReplacingPod",
                format!(
                    "pod {} is {}; replacing it",
                    pod.name(),
                    pod.display_status()
                ),
            ));
        }
        let is_new = |p: &&Pod| p.metadata.labels.get(TEMPLATE_HASH_LABEL) == Some(&target.hash);
        // Paused: a dead pod comes back as a pod of its own revision, as each ReplicaSet keeps
        // its own count in Kubernetes (an old one stays old, a new one new).
        let replacements = if spec.paused {
            self.replace_in_own_revision(&dead, revs)?
        } else {
            Vec::new()
        };
        let (mut new, mut old): (Vec<&Pod>, Vec<&Pod>) = live
            .into_iter()
            .chain(replacements.iter())
            .partition(is_new);
        let now = self.now;
        let count = |ps: &[&Pod]| ps.iter().filter(|p| available(p, min_ready, now)).count() as u32;
        let counts = Counts {
            replicas,
            new: new.len() as u32,
            new_available: count(&new),
            old: old.len() as u32,
            old_available: count(&old),
            old_terminating: terminating.iter().filter(|p| !is_new(p)).count() as u32,
        };
        // Paused mid-rollout: the rollout stands where it is (only replica changes are followed).
        let stands_still = spec.paused && counts.old > 0;
        let step = if stands_still {
            rollout_plan::plan_paused(&spec.strategy, counts)
        } else {
            rollout_plan::plan(&spec.strategy, counts)
        };
        tracing::debug!(deployment = %key, ?counts, ?step, paused = spec.paused, "rollout step");
        let mut created = 0;
        for _ in 0..step.create {
            match new_pod(deployment, &target.template, &target.hash, target.number)
                .and_then(|pod| to_any(&pod_key(&pod), &pod))
            {
                Ok(any) => {
                    self.writes.push(Write::Create(any));
                    created += 1;
                }
                Err(error) => {
                    // Every pod of this template would fail alike: say so once and stop.
                    tracing::warn!(deployment = %key, %error, "cannot make a pod");
                    self.events.push(EventDraft::warning(
                        key.clone(),
                        "FailedCreate",
                        format!("cannot create a pod: {error}"),
                    ));
                    break;
                }
            }
        }
        if created > 0 {
            self.events.push(EventDraft::normal(
                key.clone(),
                "ScaledUp",
                format!(
                    "created {created} pod(s) of revision {} for {replicas} replica(s)",
                    target.number
                ),
            ));
        }
        if step.remove_new > 0 {
            new.sort_by(removal_order);
            let gone: Vec<&Pod> = new.drain(..step.remove_new as usize).collect();
            self.terminate(&gone)?;
            self.events.push(EventDraft::normal(
                key.clone(),
                "ScaledDown",
                format!("removed {} pod(s) for {replicas} replica(s)", gone.len()),
            ));
        }
        let removed_old = self.remove_old(&mut old, step, min_ready)?;
        if removed_old > 0 && stands_still {
            self.events.push(EventDraft::normal(
                key.clone(),
                "ScaledDown",
                format!("removed {removed_old} pod(s) of an older revision for {replicas} replica(s) (the rollout is paused)"),
            ));
        } else if removed_old > 0 {
            self.events.push(EventDraft::normal(
                key.clone(),
                "RollingUpdate",
                format!(
                    "removed {removed_old} pod(s) of an older revision (rolling to revision {})",
                    target.number
                ),
            ));
        }
        // Status, counted after this pass's writes.
        let new_available = count(&new);
        let old_available = count(&old);
        let updated = new.len() as u32 + created;
        let mut status = previous.clone();
        status.replicas = updated + old.len() as u32;
        status.ready_replicas = new.iter().chain(&old).filter(|p| p.status.ready).count() as u32;
        status.updated_replicas = updated;
        status.available_replicas = new_available + old_available;
        status.updated_available_replicas = new_available;
        status.observed_generation = deployment.metadata.generation.unwrap_or(0);
        status.revision = Some(target.number);
        let is_new_rollout = previous.current_hash.as_deref() != Some(target.hash.as_str());
        status.current_hash = Some(target.hash.clone());
        let complete = updated == replicas && new_available == replicas && old.is_empty();
        if complete {
            status.last_complete_hash = Some(target.hash.clone());
        }
        let (_, max_unavailable) = spec.strategy.bounds(replicas);
        let enough = status.available_replicas >= replicas.saturating_sub(max_unavailable);
        conditions::set(
            &mut status,
            ConditionType::Available,
            if enough {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            if enough {
                "MinimumReplicasAvailable"
            } else {
                "MinimumReplicasUnavailable"
            },
            if enough {
                "Deployment has minimum availability.".into()
            } else {
                "Deployment does not have minimum availability.".into()
            },
            false,
            self.now,
        );
        let was_paused = previous
            .condition(ConditionType::Progressing)
            .is_some_and(|c| c.reason == conditions::PAUSED);
        let progress = if spec.paused {
            Progress::Paused
        } else if complete {
            Progress::Complete
        } else if was_paused {
            Progress::Resumed
        } else if is_new_rollout
            || created > 0
            || new_available > previous.updated_available_replicas
        {
            Progress::Moved
        } else {
            Progress::Stalled
        };
        let failed = conditions::progressing(
            &mut status,
            progress,
            deployment.name(),
            target.number,
            spec.progress_deadline_seconds,
            blocker(&new),
            self.now,
        );
        let rollback = if failed && spec.rollback.as_ref().is_some_and(|r| r.on_failure) {
            self.rollback(&mut status, revs, &target, &new)
        } else {
            None
        };
        Ok((status, rollback))
    }

    /// Takes away the old pods `step` says, those that do not serve first.
    fn remove_old(
        &mut self,
        old: &mut Vec<&Pod>,
        step: rollout_plan::Step,
        min_ready: u64,
    ) -> Result<usize, RegistryError> {
        let now = self.now;
        let (mut unavailable, mut serving): (Vec<&Pod>, Vec<&Pod>) =
            old.iter().partition(|p| !available(p, min_ready, now));
        unavailable.sort_by(removal_order);
        serving.sort_by(removal_order);
        let mut gone: Vec<&Pod> = Vec::new();
        gone.extend(
            unavailable
                .iter()
                .take(step.remove_old_unavailable as usize),
        );
        gone.extend(serving.iter().take(step.remove_old_available as usize));
        self.terminate(&gone)?;
        old.retain(|p| !gone.iter().any(|g| g.name() == p.name()));
        Ok(gone.len())
    }

    /// The pods that replace the `dead` ones, each of its own revision (written, with their
    /// events, to this pass). A dead pod whose revision is gone is left to the plan, which
    /// makes one of the revision rolled to.
    fn replace_in_own_revision(
        &mut self,
        dead: &[&Pod],
        revs: &[&ControllerRevision],
    ) -> Result<Vec<Pod>, RegistryError> {
        let mut made = Vec::new();
        for pod in dead {
            let Some(hash) = pod.metadata.labels.get(TEMPLATE_HASH_LABEL) else {
                continue;
            };
            let Some(revision) = revs.iter().find(|r| &r.spec.template_hash == hash) else {
                continue;
            };
            let spec = &revision.spec;
            let replacement = new_pod(self.deployment, &spec.template, hash, spec.revision)?;
            self.writes
                .push(Write::Create(to_any(&pod_key(&replacement), &replacement)?));
            self.events.push(EventDraft::normal(
                self.deployment.key(),
                "SuccessfulCreate",
                format!(
                    "created pod {} of revision {} in place of {} (the rollout is paused)",
                    replacement.name(),
                    spec.revision,
                    pod.name()
                ),
            ));
            made.push(replacement);
        }
        Ok(made)
    }

    fn terminate(&mut self, pods: &[&Pod]) -> Result<(), RegistryError> {
        for pod in pods {
            self.writes.push(termination::begin(pod, self.now)?);
        }
        Ok(())
    }

    /// Rolls the deployment back to its last complete revision, if it has one other than the
    /// failed one; records why in an event and the `RolledBack` condition.
    fn rollback(
        &mut self,
        status: &mut DeploymentStatus,
        revs: &[&ControllerRevision],
        failed: &revisions::Current,
        new: &[&Pod],
    ) -> Option<Rollback> {
        let good_hash = status.last_complete_hash.clone()?;
        if good_hash == failed.hash {
            return None;
        }
        let good = revs.iter().find(|r| r.spec.template_hash == good_hash)?;
        let why = blocker(new).unwrap_or_else(|| "no pod turned ready".into());
        let message = format!(
            "revision {} did not turn ready within {}s ({why}); rolled back to revision {}",
            failed.number, self.deployment.spec.progress_deadline_seconds, good.spec.revision
        );
        tracing::warn!(deployment = %self.deployment.key(), %message, "automatic rollback");
        self.events.push(EventDraft::warning(
            self.deployment.key(),
            "RolledBack",
            message.clone(),
        ));
        conditions::set(
            status,
            ConditionType::RolledBack,
            ConditionStatus::True,
            conditions::DEADLINE_EXCEEDED,
            message,
            true,
            self.now,
        );
        Some(Rollback {
            key: self.deployment.key(),
            uid: self.deployment.metadata.uid.clone(),
            template: good.spec.template.clone(),
        })
    }
}

/// Why the new revision's pods do not serve: the first one's reason and message.
fn blocker(new: &[&Pod]) -> Option<String> {
    new.iter().find(|p| !p.status.ready).map(|p| {
        let reason = p
            .status
            .reason
            .as_deref()
            .unwrap_or(p.status.phase.as_str());
        match &p.status.message {
            Some(message) => format!("pod {}: {reason}: {message}", p.name()),
            None => format!("pod {}: {reason}", p.name()),
        }
    })
}

fn new_pod(
    deployment: &Deployment,
    template: &PodTemplate,
    hash: &str,
    revision: u64,
) -> Result<Pod, RegistryError> {
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
    metadata.labels = template.metadata.labels.clone();
    metadata
        .labels
        .insert(TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    metadata.annotations = template.metadata.annotations.clone();
    metadata
        .annotations
        .insert(REVISION_ANNOTATION.to_string(), revision.to_string());
    metadata.owner_references = vec![OwnerReference::to(deployment)];
    let mut spec = template.spec.clone();
    spec.node_name = None;
    Ok(Pod::of(metadata, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry;
    use wasmpod_api::Event;
    use wasmpod_api::{ConditionStatus, ConditionType};
    use wasmpod_api::{Kind, ObjectKey, PodPhase, RestartPolicy};

    fn deployment(replicas: u32, version: &str) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "env": [{"name": "VERSION", "value": version}]}}
            }
        }))
        .unwrap()
    }

    /// Writes `d` as `apply` does: the stored status stays.
    fn apply(reg: &Registry, d: &Deployment) {
        let mut d = d.clone();
        if let Some(stored) = reg.fetch::<Deployment>("default", "web").unwrap() {
            d.status = stored.status;
        }
        let d = &d;
        reg.commit(vec![Write::Put(
            to_any(&ObjectKey::new(Kind::Deployment, "default", "web"), d).unwrap(),
        )])
        .unwrap();
    }

    /// The live pods (terminating ones are on their way out).
    fn pods(reg: &Registry) -> Vec<Pod> {
        let mut pods: Vec<Pod> = reg.all_owned(None).unwrap();
        pods.retain(|p| p.metadata.deletion_timestamp.is_none());
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
        reconcile_all(&reg).unwrap();
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

    fn revisions(reg: &Registry) -> Vec<(u64, String)> {
        let mut revs: Vec<ControllerRevision> = reg.all_owned(None).unwrap();
        revs.sort_by_key(|r| r.spec.revision);
        revs.into_iter()
            .map(|r| {
                let version = r.spec.template.spec.env[0].value.clone();
                (r.spec.revision, version)
            })
            .collect()
    }

    /// Every pod of `version` running and ready.
    fn serve(reg: &Registry, version: &str) {
        for p in &of(reg, version) {
            set_status(reg, p, PodPhase::Running, true);
        }
    }

    fn condition(reg: &Registry, t: ConditionType) -> Option<wasmpod_api::DeploymentCondition> {
        status(reg).condition(t).cloned()
    }

    #[test]
    fn each_template_is_a_numbered_revision_and_an_old_one_coming_back_is_renumbered() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(1, "v1"));
        reconcile_all(&reg).unwrap();
        serve(&reg, "v1");
        reconcile_all(&reg).unwrap();
        apply(&reg, &deployment(1, "v2"));
        reconcile_all(&reg).unwrap();
        assert_eq!(revisions(&reg), [(1, "v1".into()), (2, "v2".into())]);
        assert_eq!(status(&reg).revision, Some(2));
        let pod = of(&reg, "v2").remove(0);
        assert_eq!(
            pod.metadata.annotations.get(REVISION_ANNOTATION),
            Some(&"2".to_string())
        );
        // Undo: v1's template again becomes revision 3; no new revision object.
        apply(&reg, &deployment(1, "v1"));
        reconcile_all(&reg).unwrap();
        assert_eq!(revisions(&reg), [(2, "v2".into()), (3, "v1".into())]);
        assert_eq!(status(&reg).revision, Some(3));
    }

    #[test]
    fn old_revisions_past_the_history_limit_go_and_all_go_with_their_deployment() {
        let (_d, reg) = registry();
        for (i, v) in ["v1", "v2", "v3", "v4"].iter().enumerate() {
            let mut d = deployment(1, v);
            d.spec.revision_history_limit = 1;
            apply(&reg, &d);
            reconcile_all(&reg).unwrap();
            serve(&reg, v);
            reconcile_all(&reg).unwrap();
            // Old pods are terminating; their node reports them stopped.
            for p in reg.all_owned::<Pod>(None).unwrap() {
                if p.metadata.deletion_timestamp.is_some() {
                    set_status(&reg, &p, PodPhase::Succeeded, false);
                }
            }
            reconcile_all(&reg).unwrap();
            assert_eq!(status(&reg).revision, Some(i as u64 + 1));
        }
        reconcile_all(&reg).unwrap();
        assert_eq!(revisions(&reg), [(3, "v3".into()), (4, "v4".into())]);
        reg.commit(vec![Write::Delete(ObjectKey::new(
            wasmpod_api::Kind::Deployment,
            "default",
            "web",
        ))])
        .unwrap();
        reconcile_all(&reg).unwrap();
        assert!(revisions(&reg).is_empty());
    }

    #[test]
    fn a_pod_taken_away_is_marked_terminating_and_deleted_once_stopped() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(2, "v1"));
        reconcile_all(&reg).unwrap();
        serve(&reg, "v1");
        apply(&reg, &deployment(1, "v1"));
        reconcile_all(&reg).unwrap();
        let all: Vec<Pod> = reg.all_owned(None).unwrap();
        let terminating: Vec<&Pod> = all
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .collect();
        assert_eq!(
            (all.len(), terminating.len()),
            (2, 1),
            "marked, not deleted"
        );
        assert_eq!(status(&reg).replicas, 1, "a terminating pod is not counted");
        reconcile_all(&reg).unwrap();
        assert_eq!(
            reg.all_owned::<Pod>(None).unwrap().len(),
            2,
            "still draining"
        );
        set_status(&reg, terminating[0], PodPhase::Succeeded, false);
        reconcile_all(&reg).unwrap();
        assert_eq!(
            reg.all_owned::<Pod>(None).unwrap().len(),
            1,
            "stopped: deleted"
        );

        // A node that never answers: deleted after the grace period and the margin.
        apply(&reg, &deployment(0, "v1"));
        let now = Utc::now();
        reconcile_at(&reg, now).unwrap();
        reconcile_at(&reg, now + chrono::Duration::seconds(10)).unwrap();
        assert_eq!(reg.all_owned::<Pod>(None).unwrap().len(), 1);
        reconcile_at(&reg, now + chrono::Duration::seconds(60)).unwrap();
        assert!(reg.all_owned::<Pod>(None).unwrap().is_empty());
        assert_eq!(status(&reg).replicas, 0, "scaled to zero");
    }

    #[test]
    fn a_rollout_without_progress_fails_its_deadline_and_rolls_back_when_asked() {
        let (_d, reg) = registry();
        let with = |version: &str, rollback: bool| {
            let mut d = deployment(2, version);
            d.spec.progress_deadline_seconds = 30;
            d.spec.rollback = rollback.then_some(wasmpod_api::RollbackPolicy { on_failure: true });
            d
        };
        let t0 = Utc::now();
        apply(&reg, &with("v1", false));
        reconcile_at(&reg, t0).unwrap();
        serve(&reg, "v1");
        reconcile_at(&reg, t0).unwrap();
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(
            (p.status, p.reason.as_str()),
            (ConditionStatus::True, "NewReplicaSetAvailable")
        );
        assert_eq!(status(&reg).last_complete_hash, status(&reg).current_hash);

        // v2 never turns ready.
        apply(&reg, &with("v2", false));
        reconcile_at(&reg, t0).unwrap();
        for p in &of(&reg, "v2") {
            reg.modify::<Pod, _>(&pod_key(p), |p| {
                p.spec.node_name = Some("n1".into());
                p.status.phase = PodPhase::Running;
                p.status.reason = Some("CrashLoopBackOff".into());
                true
            })
            .unwrap();
        }
        reconcile_at(&reg, t0 + chrono::Duration::seconds(10)).unwrap();
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(p.status, ConditionStatus::True, "within the deadline");
        reconcile_at(&reg, t0 + chrono::Duration::seconds(31)).unwrap();
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(
            (p.status, p.reason.as_str()),
            (ConditionStatus::False, "ProgressDeadlineExceeded")
        );
        assert!(p.message.contains("CrashLoopBackOff"), "{}", p.message);
        assert_eq!(of(&reg, "v1").len(), 2, "the old pods keep serving");
        assert!(
            condition(&reg, ConditionType::RolledBack).is_none(),
            "not opted in"
        );

        // Opted in: the next pass past the deadline rolls back to v1.
        apply(&reg, &with("v2", true));
        reconcile_at(&reg, t0 + chrono::Duration::seconds(32)).unwrap();
        let d = reg.fetch::<Deployment>("default", "web").unwrap().unwrap();
        assert_eq!(d.spec.template.spec.env[0].value, "v1", "rolled back");
        let r = condition(&reg, ConditionType::RolledBack).unwrap();
        assert!(
            r.message.contains("revision 2")
                && r.message.contains("CrashLoopBackOff")
                && r.message.contains("rolled back to revision 1"),
            "{}",
            r.message
        );
        assert!(reasons(&reg).contains(&"RolledBack".to_string()));
        reconcile_at(&reg, t0 + chrono::Duration::seconds(33)).unwrap();
        assert_eq!(status(&reg).revision, Some(3), "v1 again, as revision 3");
        assert!(of(&reg, "v2")
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some()));
    }

    #[test]
    fn a_paused_deployment_stays_on_its_revision_but_scales() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(1, "v1"));
        reconcile_all(&reg).unwrap();
        serve(&reg, "v1");
        reconcile_all(&reg).unwrap();
        let mut d = deployment(2, "v2");
        d.spec.paused = true;
        apply(&reg, &d);
        reconcile_all(&reg).unwrap();
        assert!(of(&reg, "v2").is_empty());
        assert_eq!(of(&reg, "v1").len(), 2, "scaled on the paused revision");
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(p.reason, "DeploymentPaused");
        d.spec.paused = false;
        apply(&reg, &d);
        reconcile_all(&reg).unwrap();
        assert!(!of(&reg, "v2").is_empty(), "resumed: the rollout starts");
    }

    /// Three replicas of `version`, rolled one extra pod at a time, `paused` or not.
    fn surging_one_at_a_time(version: &str, paused: bool) -> Deployment {
        let mut d = deployment(3, version);
        d.spec.strategy = serde_json::from_value(serde_json::json!(
            {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        ))
        .unwrap();
        d.spec.paused = paused;
        d
    }

    /// v1 applied and serving, then v2 applied: the rollout's first new pod is made.
    fn rollout_started(reg: &Registry) {
        apply(reg, &surging_one_at_a_time("v1", false));
        reconcile_all(reg).unwrap();
        serve(reg, "v1");
        reconcile_all(reg).unwrap();
        apply(reg, &surging_one_at_a_time("v2", false));
        reconcile_all(reg).unwrap();
    }

    #[test]
    fn a_pod_that_fails_while_paused_comes_back_with_its_own_revisions_template() {
        let (_d, reg) = registry();
        let with = surging_one_at_a_time;
        rollout_started(&reg);
        apply(&reg, &with("v2", true));
        serve(&reg, "v2");
        reconcile_all(&reg).unwrap();
        assert_eq!((of(&reg, "v2").len(), of(&reg, "v1").len()), (1, 3));

        // An old pod fails: it comes back as v1 (revision 1), not as v2.
        let failed = of(&reg, "v1").remove(0);
        set_status(&reg, &failed, PodPhase::Failed, false);
        reconcile_all(&reg).unwrap();
        let v1 = of(&reg, "v1");
        assert_eq!(
            (of(&reg, "v2").len(), v1.len()),
            (1, 3),
            "replaced within its own revision"
        );
        assert!(v1.iter().all(|p| p.name() != failed.name()));
        let replacement = v1.iter().find(|p| p.spec.node_name.is_none()).unwrap();
        assert_eq!(
            replacement.metadata.annotations.get(REVISION_ANNOTATION),
            Some(&"1".to_string())
        );
        reconcile_all(&reg).unwrap();
        assert_eq!(pods(&reg).len(), 4, "nothing more made");

        // A new pod that fails comes back as v2.
        let failed = of(&reg, "v2").remove(0);
        set_status(&reg, &failed, PodPhase::Failed, false);
        reconcile_all(&reg).unwrap();
        assert_eq!((of(&reg, "v2").len(), of(&reg, "v1").len()), (1, 3));
        assert!(of(&reg, "v2").iter().all(|p| p.name() != failed.name()));
    }

    /// Old pods marked terminating are reported stopped by their node, as a node does once
    /// they drained.
    fn drain_terminating(reg: &Registry) {
        for p in reg.all_owned::<Pod>(None).unwrap() {
            if p.metadata.deletion_timestamp.is_some() {
                set_status(reg, &p, PodPhase::Succeeded, false);
            }
        }
    }

    #[test]
    fn pausing_mid_rollout_stops_it_at_the_next_step_and_resuming_finishes_it() {
        let (_d, reg) = registry();
        let with = surging_one_at_a_time;
        rollout_started(&reg);
        assert_eq!((of(&reg, "v2").len(), of(&reg, "v1").len()), (1, 3));

        // Paused, then the new pod turns ready: unpaused, the next pass would take an old pod
        // away and make a new one. Paused, nothing moves, pass after pass.
        apply(&reg, &with("v2", true));
        serve(&reg, "v2");
        for _ in 0..3 {
            reconcile_all(&reg).unwrap();
            drain_terminating(&reg);
        }
        assert_eq!((of(&reg, "v2").len(), of(&reg, "v1").len()), (1, 3));
        assert!(reg
            .all_owned::<Pod>(None)
            .unwrap()
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_none()));
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(p.reason, "DeploymentPaused");
        assert_eq!(status(&reg).updated_replicas, 1);

        // Scaled while paused: the replicas are followed, the rollout still stands.
        let mut more = with("v2", true);
        more.spec.replicas = 4;
        apply(&reg, &more);
        reconcile_all(&reg).unwrap();
        assert_eq!(
            pods(&reg).len(),
            4,
            "4 pods for 4 replicas: none made, none taken"
        );
        assert_eq!(of(&reg, "v2").len(), 1);

        // Resumed: the rollout goes on to its end.
        apply(&reg, &with("v2", false));
        reconcile_all(&reg).unwrap();
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(
            (p.status, p.reason.as_str()),
            (ConditionStatus::Unknown, "DeploymentResumed")
        );
        for _ in 0..10 {
            serve(&reg, "v2");
            drain_terminating(&reg);
            reconcile_all(&reg).unwrap();
        }
        assert_eq!((of(&reg, "v2").len(), of(&reg, "v1").len()), (3, 0));
        let p = condition(&reg, ConditionType::Progressing).unwrap();
        assert_eq!(p.reason, "NewReplicaSetAvailable");
    }

    #[test]
    fn a_deleted_deployments_pods_drain_before_they_go() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(2, "v1"));
        reconcile_all(&reg).unwrap();
        serve(&reg, "v1");
        reconcile_all(&reg).unwrap();
        // One more pod, never scheduled: it serves no one and goes at once.
        apply(&reg, &deployment(3, "v1"));
        reconcile_all(&reg).unwrap();
        reg.commit(vec![Write::Delete(ObjectKey::new(
            Kind::Deployment,
            "default",
            "web",
        ))])
        .unwrap();
        let keys: Vec<ObjectKey> = reg
            .all_owned::<Pod>(None)
            .unwrap()
            .iter()
            .map(pod_key)
            .collect();
        let outcome = termination::cascade(&reg, &keys, Utc::now()).unwrap();
        assert_eq!(
            outcome,
            termination::Cascade {
                draining: 2,
                deleted: 1
            }
        );
        let left = || reg.all_owned::<Pod>(None).unwrap();
        assert_eq!(left().len(), 2);
        assert!(left()
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some()));
        // The orphan collection leaves draining pods alone...
        reconcile_all(&reg).unwrap();
        reconcile_all(&reg).unwrap();
        assert_eq!(left().len(), 2, "still draining");
        // ...and deletes each once its node reports it stopped.
        set_status(&reg, &left()[0], PodPhase::Succeeded, false);
        reconcile_all(&reg).unwrap();
        assert_eq!(left().len(), 1);
        set_status(&reg, &left()[0], PodPhase::Succeeded, false);
        reconcile_all(&reg).unwrap();
        assert!(left().is_empty());
    }

    #[test]
    fn pods_whose_deployment_went_are_collected_through_termination() {
        let (_d, reg) = registry();
        apply(&reg, &deployment(2, "v1"));
        reconcile_all(&reg).unwrap();
        serve(&reg, "v1");
        reconcile_all(&reg).unwrap();
        // The deployment goes without the API's cascade (another server, an older one).
        reg.commit(vec![Write::Delete(ObjectKey::new(
            Kind::Deployment,
            "default",
            "web",
        ))])
        .unwrap();
        reconcile_all(&reg).unwrap();
        let left: Vec<Pod> = reg.all_owned(None).unwrap();
        assert_eq!(left.len(), 2, "marked, not deleted");
        assert!(left.iter().all(|p| p.metadata.deletion_timestamp.is_some()));
        drain_terminating(&reg);
        reconcile_all(&reg).unwrap();
        assert!(reg.all_owned::<Pod>(None).unwrap().is_empty());
    }
}
