//! Graceful pod termination, as in Kubernetes: a pod that serves is not deleted at once but
//! marked terminating (`metadata.deletionTimestamp`). Every gateway drops it from its services'
//! endpoints at once; its node keeps it serving the requests still routed to it for a moment,
//! then takes it out of its own routes, waits for its in-flight requests (up to
//! `terminationGracePeriodSeconds`), stops it and reports it `Succeeded` with reason
//! `Terminated`. The pod object is deleted then, or once its grace period (and a margin for a
//! node that cannot answer) has passed.
//!
//! Deleting an owner (a Deployment, a StatefulSet, a namespace) cascades the same way, as
//! Kubernetes' background cascading deletion: the owner is gone from the API at once, its pods
//! are marked terminating ([`cascade`]) and drain like any other; the controllers' orphan
//! collection ([`orphans`]) does the same for pods whose owner went any other way.

use crate::registry::{to_any, Registry, RegistryError, Write};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use wasmpod_api::{ObjectKey, Pod, PodPhase};

/// Time a node that has gone quiet gets beyond a pod's grace period before its pod is deleted.
const UNRESPONSIVE_NODE_MARGIN_SECONDS: i64 = 15;

/// The status reason of a pod its node drained and stopped.
pub const TERMINATED: &str = "Terminated";

/// The write that takes `pod` away: a delete for a pod that serves no one (unscheduled, or no
/// longer running), else its terminating mark.
pub fn begin(pod: &Pod, now: DateTime<Utc>) -> Result<Write, RegistryError> {
    let key = super::pod_key(pod);
    if !serves(pod) {
        return Ok(Write::Delete(key));
    }
    let mut marked = pod.clone();
    marked.metadata.deletion_timestamp = Some(now);
    Ok(Write::Update(to_any(&key, &marked)?))
}

/// A pod its node runs: taking it away waits for its node to drain it.
fn serves(pod: &Pod) -> bool {
    pod.spec.node_name.is_some()
        && !matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// The writes that take away pods whose owner is gone: each as [`begin`] says, except those
/// already terminating, which [`finish`] deletes once drained.
pub fn orphans<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    now: DateTime<Utc>,
) -> Result<Vec<Write>, RegistryError> {
    pods.into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .map(|pod| begin(pod, now))
        .collect()
}

/// What [`cascade`] did to a deleted owner's pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cascade {
    /// Pods marked terminating: their nodes drain them.
    pub draining: usize,
    /// Pods that served no one, deleted at once.
    pub deleted: usize,
}

/// Takes away the pods `keys` of an owner just deleted (background cascading deletion): a pod
/// its node runs is marked terminating, one already terminating is left to drain, any other is
/// deleted. Each pod is read and written on its own, so a status report racing this is retried,
/// not refused.
pub fn cascade(
    registry: &Registry,
    keys: &[ObjectKey],
    now: DateTime<Utc>,
) -> Result<Cascade, RegistryError> {
    let mut outcome = Cascade::default();
    let mut deletes = Vec::new();
    for key in keys {
        let mut serving = false;
        let found = registry.modify::<Pod, _>(key, |pod| {
            serving = serves(pod);
            let mark = serving && pod.metadata.deletion_timestamp.is_none();
            if mark {
                pod.metadata.deletion_timestamp = Some(now);
            }
            mark
        })?;
        if found.is_none() {
            continue;
        }
        if serving {
            outcome.draining += 1;
        } else {
            deletes.push(Write::Delete(key.clone()));
        }
    }
    outcome.deleted = deletes.len();
    super::commit_each(registry, "cascade", deletes)?;
    Ok(outcome)
}

/// Deletes for the terminating pods that are done: stopped by their node, never scheduled, or
/// past their grace period and margin.
pub fn finish(pods: &[Arc<Pod>], now: DateTime<Utc>) -> Vec<Write> {
    pods.iter()
        .filter(|pod| {
            let Some(since) = pod.metadata.deletion_timestamp else {
                return false;
            };
            let grace = pod.spec.termination_grace_period().as_secs() as i64;
            !serves(pod) || (now - since).num_seconds() > grace + UNRESPONSIVE_NODE_MARGIN_SECONDS
        })
        .map(|pod| Write::Delete(super::pod_key(pod)))
        .collect()
}

/// A user's delete of pod `key`: a pod its node runs is marked terminating (and drained), and
/// `true` returned; a pod already terminating, or not running anywhere, is left to be deleted
/// at once (`false`): a second delete does not wait.
pub fn mark_on_delete(
    registry: &crate::registry::Registry,
    key: &wasmpod_api::ObjectKey,
    now: DateTime<Utc>,
) -> Result<bool, RegistryError> {
    let mut marked = false;
    registry.modify::<Pod, _>(key, |pod| {
        marked = pod.metadata.deletion_timestamp.is_none() && serves(pod);
        if marked {
            pod.metadata.deletion_timestamp = Some(now);
        }
        marked
    })?;
    Ok(marked)
}
