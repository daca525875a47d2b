//! Status conditions, as Kubernetes keeps them: one per type in a list, each with a status, a
//! machine-readable reason, a message for people, the time its status last flipped and, for
//! kinds that keep one, the time it was last updated. [`set_condition`] is the one setter the
//! controllers use for every kind (Deployment, HorizontalPodAutoscaler).

use chrono::{DateTime, Utc};
use std::fmt;

/// A condition kind: Deployment's and HorizontalPodAutoscaler's, each with its own types and
/// (for historical wire reasons) its own status type.
pub trait Condition {
    type Type: Copy + PartialEq + fmt::Debug;
    type Status: Copy + PartialEq + fmt::Debug;

    fn new(change: ConditionChange<Self::Type, Self::Status>, now: DateTime<Utc>) -> Self;
    fn condition_type(&self) -> Self::Type;
    fn status(&self) -> Self::Status;
    fn reason(&self) -> &str;
    fn message(&self) -> &str;
    /// Writes `status`, `reason` and `message`.
    fn write(&mut self, status: Self::Status, reason: &str, message: String);
    fn set_transition_time(&mut self, at: DateTime<Utc>);
    /// The last update time, for kinds that keep one (a no-op for the others).
    fn set_update_time(&mut self, at: DateTime<Utc>);
    /// `True`, `False` or `Unknown`, as `describe` prints it.
    fn status_text(&self) -> &'static str;
}

/// What one controller pass says a condition is now.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionChange<T, S> {
    pub condition_type: T,
    pub status: S,
    pub reason: &'static str,
    pub message: String,
    /// Move the update time even when nothing else changed (a rollout that made progress).
    pub touch: bool,
}

/// Sets the condition `change` names in `conditions` (adding it when missing): its transition
/// time moves only when its status flips; its update time when the status or reason changes or
/// `change.touch` says so. Returns whether its status flipped.
pub fn set_condition<C: Condition>(
    conditions: &mut Vec<C>,
    change: ConditionChange<C::Type, C::Status>,
    now: DateTime<Utc>,
) -> bool {
    let Some(c) = conditions
        .iter_mut()
        .find(|c| c.condition_type() == change.condition_type)
    else {
        conditions.push(C::new(change, now));
        return true;
    };
    let flipped = c.status() != change.status;
    if flipped {
        c.set_transition_time(now);
    }
    if change.touch || flipped || c.reason() != change.reason {
        c.set_update_time(now);
    }
    c.write(change.status, change.reason, change.message);
    flipped
}

impl Condition for super::DeploymentCondition {
    type Type = super::ConditionType;
    type Status = super::ConditionStatus;

    fn new(change: ConditionChange<Self::Type, Self::Status>, now: DateTime<Utc>) -> Self {
        super::DeploymentCondition {
            condition_type: change.condition_type,
            status: change.status,
            reason: change.reason.to_string(),
            message: change.message,
            last_transition_time: now,
            last_update_time: now,
        }
    }
    fn condition_type(&self) -> Self::Type {
        self.condition_type
    }
    fn status(&self) -> Self::Status {
        self.status
    }
    fn reason(&self) -> &str {
        &self.reason
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn write(&mut self, status: Self::Status, reason: &str, message: String) {
        self.status = status;
        self.reason = reason.to_string();
        self.message = message;
    }
    fn set_transition_time(&mut self, at: DateTime<Utc>) {
        self.last_transition_time = at;
    }
    fn set_update_time(&mut self, at: DateTime<Utc>) {
        self.last_update_time = at;
    }
    fn status_text(&self) -> &'static str {
        match self.status {
            super::ConditionStatus::True => "True",
            super::ConditionStatus::False => "False",
            super::ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl Condition for super::HpaCondition {
    type Type = super::HpaConditionType;
    type Status = bool;

    fn new(change: ConditionChange<Self::Type, Self::Status>, now: DateTime<Utc>) -> Self {
        super::HpaCondition {
            condition: change.condition_type,
            status: change.status,
            reason: change.reason.to_string(),
            message: change.message,
            last_transition_time: now,
        }
    }
    fn condition_type(&self) -> Self::Type {
        self.condition
    }
    fn status(&self) -> Self::Status {
        self.status
    }
    fn reason(&self) -> &str {
        &self.reason
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn write(&mut self, status: Self::Status, reason: &str, message: String) {
        self.status = status;
        self.reason = reason.to_string();
        self.message = message;
    }
    fn set_transition_time(&mut self, at: DateTime<Utc>) {
        self.last_transition_time = at;
    }
    fn set_update_time(&mut self, _at: DateTime<Utc>) {}
    fn status_text(&self) -> &'static str {
        if self.status {
            "True"
        } else {
            "False"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ConditionStatus, ConditionType, DeploymentCondition, HpaCondition, HpaConditionType,
    };

    fn change(
        status: ConditionStatus,
        reason: &'static str,
        touch: bool,
    ) -> ConditionChange<ConditionType, ConditionStatus> {
        ConditionChange {
            condition_type: ConditionType::Progressing,
            status,
            reason,
            message: format!("{reason} message"),
            touch,
        }
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips_and_update_time_on_any_change_or_touch() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut conditions: Vec<DeploymentCondition> = Vec::new();
        assert!(set_condition(
            &mut conditions,
            change(ConditionStatus::True, "A", false),
            at(0)
        ));
        let times = |c: &[DeploymentCondition]| (c[0].last_transition_time, c[0].last_update_time);
        // Same status, same reason, no touch: nothing moves.
        assert!(!set_condition(
            &mut conditions,
            change(ConditionStatus::True, "A", false),
            at(1)
        ));
        assert_eq!(times(&conditions), (at(0), at(0)));
        // A touch moves the update time only.
        set_condition(
            &mut conditions,
            change(ConditionStatus::True, "A", true),
            at(2),
        );
        assert_eq!(times(&conditions), (at(0), at(2)));
        // A new reason moves the update time only.
        set_condition(
            &mut conditions,
            change(ConditionStatus::True, "B", false),
            at(3),
        );
        assert_eq!(times(&conditions), (at(0), at(3)));
        assert_eq!(conditions[0].message, "B message");
        // A flip moves both.
        assert!(set_condition(
            &mut conditions,
            change(ConditionStatus::False, "B", false),
            at(4)
        ));
        assert_eq!(times(&conditions), (at(4), at(4)));
        // Another type is a second entry.
        set_condition(
            &mut conditions,
            ConditionChange {
                condition_type: ConditionType::Available,
                ..change(ConditionStatus::True, "C", false)
            },
            at(5),
        );
        assert_eq!(conditions.len(), 2);
    }

    #[test]
    fn an_autoscaler_condition_keeps_its_transition_time_until_it_flips() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut conditions: Vec<HpaCondition> = Vec::new();
        let able = |status: bool, reason: &'static str| ConditionChange {
            condition_type: HpaConditionType::AbleToScale,
            status,
            reason,
            message: String::new(),
            touch: false,
        };
        set_condition(&mut conditions, able(true, "SucceededGetScale"), at(0));
        set_condition(&mut conditions, able(true, "SucceededGetScale"), at(1));
        assert_eq!(conditions[0].last_transition_time, at(0));
        set_condition(&mut conditions, able(false, "FailedGetScale"), at(2));
        assert_eq!(
            (
                conditions.len(),
                conditions[0].last_transition_time,
                conditions[0].status_text()
            ),
            (1, at(2), "False")
        );
    }
}
