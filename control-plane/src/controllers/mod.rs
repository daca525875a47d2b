//! Control loops. Each is level-triggered: it wakes on any change to the kinds it cares about (or
//! on a timer), looks at the whole state, and writes what differs. It never assumes it saw every event.

pub mod autoscaler;
pub mod autoscaler_load;
pub mod autoscaler_math;
pub mod autoscaler_source;
#[cfg(test)]
mod autoscaler_tests;
pub mod claims;
pub mod config_version;
pub mod deployment;
pub mod deployment_status;
pub mod namespace;
pub mod node_lifecycle;
pub mod revisions;
pub mod rollout_plan;
pub mod scheduler;
pub mod statefulset;
pub mod termination;

use crate::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use wasmpod_api::Kind;

/// Runs `reconcile` whenever an object of `kinds` changes (changes arriving together are
/// coalesced into one pass) and at least every `period`, until `shutdown`.
pub async fn run_loop<F>(
    name: &'static str,
    registry: Arc<Registry>,
    kinds: &'static [Kind],
    period: Duration,
    shutdown: CancellationToken,
    mut reconcile: F,
) where
    F: FnMut(&Registry) -> Result<(), crate::registry::RegistryError> + Send + 'static,
{
    let mut changes = registry.hub().subscribe();
    loop {
        // A pass commits (disk flushes, etcd round trips): on the blocking pool, never on an
        // async worker thread. The pass runs to its end even when `shutdown` comes meanwhile.
        let pass_registry = registry.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let span = tracing::debug_span!("reconcile", controller = name);
            let started = std::time::Instant::now();
            let result = span.in_scope(|| reconcile(&pass_registry));
            let metrics = crate::metrics::get();
            metrics
                .controller_pass
                .get(&[name])
                .observe(started.elapsed());
            (reconcile, result)
        });
        reconcile = match pass.await {
            Ok((reconcile, Ok(()))) => reconcile,
            // This server no longer leads (the fence logged it once): stop, do not retry.
            Ok((_, Err(crate::registry::RegistryError::Fenced { fence }))) => {
                tracing::debug!(controller = name, %fence, "deposed; controller stopped");
                return;
            }
            Ok((reconcile, Err(error))) => {
                tracing::warn!(controller = name, %error, "reconcile failed; will retry");
                crate::metrics::get().reconcile_errors.get(&[name]).inc();
                reconcile
            }
            Err(error) => {
                tracing::error!(controller = name, %error, "reconcile pass panicked; controller stopped");
                return;
            }
        };
        let deadline = tokio::time::sleep(period);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut deadline => break,
                change = changes.recv() => match change {
                    Ok(c) if kinds.contains(&c.key.kind) => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
        // Let a burst of changes land before the next pass.
        tokio::time::sleep(Duration::from_millis(5)).await;
        while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
            changes.try_recv()
        {}
    }
}

/// Ends one pass of a controller that owns pods: takes away the pods of owners that are gone,
/// commits the pod writes in one batch, records the events, then writes each changed status.
pub fn finish_owner_pass<T, S>(
    registry: &Registry,
    source: &str,
    orphans: Vec<crate::registry::Write>,
    mut writes: Vec<crate::registry::Write>,
    events: &[crate::events::EventDraft],
    statuses: Vec<(wasmpod_api::ObjectKey, S)>,
    status_of: fn(&mut T) -> &mut S,
) -> Result<(), crate::registry::RegistryError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    S: PartialEq + Clone,
{
    writes.extend(orphans);
    commit_each(registry, source, writes)?;
    crate::events::Recorder::new(registry, source).record(events);
    for (key, status) in statuses {
        registry.modify::<T, _>(&key, |object| {
            let slot = status_of(object);
            let changed = *slot != status;
            *slot = status.clone();
            changed
        })?;
    }
    Ok(())
}

/// Commits each write on its own (all with one flush). A write refused by a conflict (the object
/// changed or went since this pass read it) is logged and left to the next pass, which reads
/// again; it does not keep the other writes from landing.
pub fn commit_each(
    registry: &Registry,
    controller: &str,
    writes: Vec<crate::registry::Write>,
) -> Result<crate::registry::GroupOutcome, crate::registry::RegistryError> {
    commit_groups(
        registry,
        controller,
        writes.into_iter().map(|w| vec![w]).collect(),
    )
}

/// [`Registry::commit_groups`], logging each conflict.
pub fn commit_groups(
    registry: &Registry,
    controller: &str,
    groups: Vec<Vec<crate::registry::Write>>,
) -> Result<crate::registry::GroupOutcome, crate::registry::RegistryError> {
    if groups.is_empty() {
        return Ok(Default::default());
    }
    let outcome = registry.commit_groups(groups)?;
    for refused in &outcome.refused {
        tracing::info!(controller, error = %refused.error, "write refused; the next pass reads again");
    }
    Ok(outcome)
}

/// A pod that will not serve again and should be replaced by its Deployment or StatefulSet. A
/// pod that ended under its own restart policy (`OnFailure` after a clean exit, `Never` after any
/// exit) is finished, not dead: it stays, instead of being replaced at once, over and over, with
/// no backoff.
pub fn is_dead(pod: &wasmpod_api::Pod) -> bool {
    use wasmpod_api::{PodPhase, RestartPolicy};
    match pod.status.phase {
        PodPhase::Failed => pod.spec.restart_policy != RestartPolicy::Never,
        PodPhase::Succeeded => pod.spec.restart_policy == RestartPolicy::Always,
        _ => false,
    }
}

/// The store key of a pod.
pub fn pod_key(pod: &wasmpod_api::Pod) -> wasmpod_api::ObjectKey {
    wasmpod_api::Resource::key(pod)
}

/// `(namespace, owner name)` of a pod-owning object.
pub type OwnerId = (String, String);

/// The pods owned by an object of kind `O` (Deployment, StatefulSet), by owner.
pub fn pods_by_owner<O: wasmpod_api::Resource, P: std::borrow::Borrow<wasmpod_api::Pod>>(
    pods: &[P],
) -> std::collections::HashMap<OwnerId, Vec<&wasmpod_api::Pod>> {
    pods_by_owner_kind(pods, O::KIND)
}

/// The pods owned by an object of `owner_kind`, by owner ([`pods_by_owner`] for a kind known
/// only at run time).
pub fn pods_by_owner_kind<P: std::borrow::Borrow<wasmpod_api::Pod>>(
    pods: &[P],
    owner_kind: Kind,
) -> std::collections::HashMap<OwnerId, Vec<&wasmpod_api::Pod>> {
    let mut owned: std::collections::HashMap<OwnerId, Vec<&wasmpod_api::Pod>> = Default::default();
    for pod in pods.iter().map(std::borrow::Borrow::borrow) {
        if let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .find(|o| o.owner_kind() == Some(owner_kind))
        {
            owned
                .entry((pod.namespace().to_string(), owner.name.clone()))
                .or_default()
                .push(pod);
        }
    }
    owned
}

/// The writes that take away the pods whose owner is not among `live`: marked terminating, so
/// their nodes drain them, as an owner's cascading delete does ([`termination::orphans`]).
pub fn orphan_removals(
    owned: &std::collections::HashMap<OwnerId, Vec<&wasmpod_api::Pod>>,
    live: &std::collections::HashSet<OwnerId>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<crate::registry::Write>, crate::registry::RegistryError> {
    termination::orphans(
        owned
            .iter()
            .filter(|(id, _)| !live.contains(*id))
            .flat_map(|(_, pods)| pods.iter().copied()),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::is_dead;
    use wasmpod_api::{Name, ObjectMeta, Pod, PodPhase, PodSpec, RestartPolicy};

    #[test]
    fn owners_replace_only_pods_that_should_run_again() {
        use PodPhase::{Failed, Running, Succeeded};
        use RestartPolicy::{Always, Never, OnFailure};
        let cases = [
            (Failed, Always, true),
            (Failed, OnFailure, true),
            (Failed, Never, false),
            (Succeeded, Always, true),
            (Succeeded, OnFailure, false),
            (Succeeded, Never, false),
            (Running, Always, false),
        ];
        for (phase, policy, dead) in cases {
            let spec: PodSpec =
                serde_json::from_value(serde_json::json!({"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000"})).unwrap();
            let mut pod: Pod = Pod::of(ObjectMeta::named(Name::try_from("p").unwrap()), spec);
            pod.spec.restart_policy = policy;
            pod.status.phase = phase;
            assert_eq!(is_dead(&pod), dead, "{phase:?} under {policy:?}");
        }
    }
}
