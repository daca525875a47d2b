//! A Deployment's conditions, as Kubernetes writes them: `Available` (enough pods serve) and
//! `Progressing` (the rollout moves on, is complete, is paused, or has passed its progress
//! deadline), with the time each last changed status and, for `Progressing`, the time of the
//! last progress. The setter is the one every kind shares ([`wasmpod_api::set_condition`]).

use chrono::{DateTime, Utc};
use wasmpod_api::{
    set_condition, ConditionChange, ConditionStatus, ConditionType, DeploymentStatus,
};

/// Reason of a rollout that went past its deadline.
pub const DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
/// Reason of a complete rollout.
pub const COMPLETE: &str = "NewReplicaSetAvailable";
/// Reason of a rollout that moves on.
pub const UPDATED: &str = "ReplicaSetUpdated";
/// Reason of a paused deployment.
pub const PAUSED: &str = "DeploymentPaused";
/// Reason of a deployment resumed since the last pass (its progress deadline starts again).
pub const RESUMED: &str = "DeploymentResumed";

/// Where the rollout stands in this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Paused,
    /// Paused until now: the deadline counts from here.
    Resumed,
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
    reason: &'static str,
    message: String,
    touch: bool,
    now: DateTime<Utc>,
) {
    set_condition(
        &mut status.conditions,
        ConditionChange {
            condition_type,
            status: state,
            reason,
            message,
            touch,
        },
        now,
    );
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
    let moving = format!("deployment {name:?} is progressing to revision {revision}");
    let (state, reason, message, touch) = match progress {
        Progress::Paused => (
            ConditionStatus::Unknown,
            PAUSED,
            "Deployment is paused".to_string(),
            false,
        ),
        Progress::Resumed => (
            ConditionStatus::Unknown,
            RESUMED,
            "Deployment is resumed".to_string(),
            true,
        ),
        Progress::Complete => (
            ConditionStatus::True,
            COMPLETE,
            format!("deployment {name:?} revision {revision} has successfully progressed"),
            false,
        ),
        Progress::Moved => (ConditionStatus::True, UPDATED, moving, true),
        Progress::Stalled => {
            let failed = previous.as_ref().is_some_and(|c| {
                c.status == ConditionStatus::False && c.reason == DEADLINE_EXCEEDED
            });
            let since = previous.as_ref().map_or(now, |c| c.last_update_time);
            let overdue = (now - since).num_seconds() >= deadline_seconds as i64;
            if failed || overdue {
                let why = blocker.map_or(String::new(), |b| format!(": {b}"));
                let message = format!(
                    "deployment {name:?} revision {revision} has timed out progressing{why}"
                );
                (ConditionStatus::False, DEADLINE_EXCEEDED, message, false)
            } else if previous.is_none() {
                (ConditionStatus::True, UPDATED, moving, true)
            } else {
                // Within the deadline: the condition stays as the last progress left it.
                return false;
            }
        }
    };
    set(
        status,
        ConditionType::Progressing,
        state,
        reason,
        message,
        touch,
        now,
    );
    reason == DEADLINE_EXCEEDED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(status: &mut DeploymentStatus, progress: Progress, now: DateTime<Utc>) -> bool {
        progressing(
            status,
            progress,
            "web",
            2,
            30,
            Some("pod web-x: NotReady".into()),
            now,
        )
    }

    fn reason(status: &DeploymentStatus) -> (ConditionStatus, String) {
        let c = status
            .condition(ConditionType::Progressing)
            .expect("Progressing");
        (c.status, c.reason.clone())
    }

    #[test]
    fn a_stalled_rollout_fails_its_deadline_counted_from_the_last_progress() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut status = DeploymentStatus::default();
        assert!(!pass(&mut status, Progress::Stalled, at(0)));
        assert_eq!(reason(&status), (ConditionStatus::True, UPDATED.into()));
        assert!(!pass(&mut status, Progress::Moved, at(20)));
        assert!(
            !pass(&mut status, Progress::Stalled, at(49)),
            "30s from the last progress"
        );
        assert!(pass(&mut status, Progress::Stalled, at(50)));
        let c = status.condition(ConditionType::Progressing).unwrap();
        assert_eq!(c.reason, DEADLINE_EXCEEDED);
        assert!(c.message.contains("NotReady"), "{}", c.message);
        assert!(pass(&mut status, Progress::Stalled, at(51)), "stays failed");
        assert!(!pass(&mut status, Progress::Complete, at(52)));
        assert_eq!(reason(&status), (ConditionStatus::True, COMPLETE.into()));
    }

    #[test]
    fn a_resumed_rollout_gets_its_whole_deadline_again() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut status = DeploymentStatus::default();
        pass(&mut status, Progress::Moved, at(0));
        pass(&mut status, Progress::Paused, at(1));
        assert_eq!(reason(&status), (ConditionStatus::Unknown, PAUSED.into()));
        // Paused far longer than the deadline, then resumed: not failed at once.
        assert!(!pass(&mut status, Progress::Resumed, at(300)));
        assert_eq!(reason(&status), (ConditionStatus::Unknown, RESUMED.into()));
        assert!(!pass(&mut status, Progress::Stalled, at(320)));
        assert!(pass(&mut status, Progress::Stalled, at(331)));
    }
}
