//! A Deployment's conditions, as Kubernetes writes them: `Available` (enough pods serve) and
//! `Progressing` (the rollout moves on, is complete, or has passed its progress deadline), with
//! the time each last changed status and, for `Progressing`, the time of the last progress.

use chrono::{DateTime, Utc};
use wasmpod_api::{ConditionStatus, ConditionType, DeploymentCondition, DeploymentStatus};

/// Reason of a rollout that went past its deadline.
pub const DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
/// Reason of a complete rollout.
pub const COMPLETE: &str = "NewReplicaSetAvailable";
/// Reason of a rollout that moves on.
pub const UPDATED: &str = "ReplicaSetUpdated";
/// Reason of a paused deployment.
pub const PAUSED: &str = "DeploymentPaused";

/// Where the rollout stands in this pass.
pub enum Progress {
    Paused,
    Complete,
    /// A new rollout began or a pod was made or turned available.
    Moved,
    /// Nothing changed since the last pass.
    Stalled,
}

/// Sets `condition_type` in `status` to `(state, reason, message)`: the transition time moves
/// only when the status changes, the update time when `touch` or anything changes.
pub fn set(
    status: &mut DeploymentStatus,
    condition_type: ConditionType,
    state: ConditionStatus,
    reason: &str,
    message: String,
    touch: bool,
    now: DateTime<Utc>,
) {
    match status
        .conditions
        .iter_mut()
        .find(|c| c.condition_type == condition_type)
    {
        Some(c) => {
            if c.status != state {
                c.last_transition_time = now;
            }
            if touch || c.status != state || c.reason != reason {
                c.last_update_time = now;
            }
            c.status = state;
            c.reason = reason.to_string();
            c.message = message;
        }
        None => status.conditions.push(DeploymentCondition {
            condition_type,
            status: state,
            reason: reason.to_string(),
            message,
            last_transition_time: now,
            last_update_time: now,
        }),
    }
}

/// The `Progressing` condition after this pass; true when the rollout just failed (its
/// deadline passed) or stays failed.
#[allow(clippy::too_many_arguments)]
pub fn progressing(
    status: &mut DeploymentStatus,
    progress: Progress,
    name: &str,
    revision: u64,
    deadline_seconds: u64,
    blocker: Option<String>,
    now: DateTime<Utc>,
) -> bool {
    let previous = status.condition(ConditionType::Progressing).cloned();
    match progress {
        Progress::Paused => {
            set(
                status,
                ConditionType::Progressing,
                ConditionStatus::Unknown,
                PAUSED,
                "Deployment is paused".into(),
                false,
                now,
            );
            false
        }
        Progress::Complete => {
            set(
                status,
                ConditionType::Progressing,
                ConditionStatus::True,
                COMPLETE,
                format!("deployment {name:?} revision {revision} has successfully progressed"),
                false,
                now,
            );
            false
        }
        Progress::Moved => {
            set(
                status,
                ConditionType::Progressing,
                ConditionStatus::True,
                UPDATED,
                format!("deployment {name:?} is progressing to revision {revision}"),
                true,
                now,
            );
            false
        }
        Progress::Stalled => {
            let failed = previous.as_ref().is_some_and(|c| {
                c.status == ConditionStatus::False && c.reason == DEADLINE_EXCEEDED
            });
            let since = previous.as_ref().map_or(now, |c| c.last_update_time);
            let overdue = (now - since).num_seconds() >= deadline_seconds as i64;
            if failed || overdue {
                let why = blocker.map_or(String::new(), |b| format!(": {b}"));
                set(
                    status,
                    ConditionType::Progressing,
                    ConditionStatus::False,
                    DEADLINE_EXCEEDED,
                    format!(
                        "deployment {name:?} revision {revision} has timed out progressing{why}"
                    ),
                    false,
                    now,
                );
                true
            } else {
                if previous.is_none() {
                    set(
                        status,
                        ConditionType::Progressing,
                        ConditionStatus::True,
                        UPDATED,
                        format!("deployment {name:?} is progressing to revision {revision}"),
                        true,
                        now,
                    );
                }
                false
            }
        }
    }
}
