//! The arithmetic of a Deployment's strategy, apart from the store: given how many pods of the
//! new and old templates exist and how many are available, how many new pods to make and how
//! many old ones to take away in this pass. Kubernetes' rules (`deployment/rolling.go`,
//! `recreate.go`): a rolling update never runs more than `replicas + maxSurge` pods nor fewer
//! than `replicas - maxUnavailable` available ones; Recreate takes every old pod away before it
//! makes a new one. A deployment paused mid-rollout stands still ([`plan_paused`]).

use wasmpod_api::{DeploymentStrategy, StrategyType};

/// The pods of one deployment as a pass sees them (terminating pods are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub replicas: u32,
    /// Live pods of the template the deployment rolls to.
    pub new: u32,
    pub new_available: u32,
    /// Live pods of older templates.
    pub old: u32,
    pub old_available: u32,
    /// Pods of older templates still terminating (Recreate waits for them).
    pub old_terminating: u32,
}

/// What one pass does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Step {
    /// New-template pods to make.
    pub create: u32,
    /// New-template pods to take away (scaling down).
    pub remove_new: u32,
    /// Unavailable old pods to take away.
    pub remove_old_unavailable: u32,
    /// Available old pods to take away.
    pub remove_old_available: u32,
}

pub fn plan(strategy: &DeploymentStrategy, c: Counts) -> Step {
    let mut step = Step::default();
    if c.new > c.replicas {
        step.remove_new = c.new - c.replicas;
    }
    match strategy.strategy_type {
        StrategyType::Recreate => {
            if c.old > 0 {
                step.remove_old_unavailable = c.old - c.old_available;
                step.remove_old_available = c.old_available;
            } else if c.old_terminating == 0 {
                step.create = c.replicas.saturating_sub(c.new);
            }
        }
        StrategyType::RollingUpdate if c.old == 0 => {
            step.create = c.replicas.saturating_sub(c.new);
        }
        StrategyType::RollingUpdate => {
            let (surge, unavailable) = strategy.bounds(c.replicas);
            let max_total = c.replicas + surge;
            let total = c.new + c.old;
            step.create = c
                .replicas
                .saturating_sub(c.new)
                .min(max_total.saturating_sub(total));
            // Scale down old pods as Kubernetes does: first those that do not serve, then
            // available ones while enough stay available.
            let min_available = c.replicas.saturating_sub(unavailable);
            let new_total = c.new + step.create;
            let new_unavailable = new_total.saturating_sub(c.new_available);
            let mut max_scaled_down =
                (new_total + c.old).saturating_sub(min_available + new_unavailable);
            step.remove_old_unavailable = (c.old - c.old_available).min(max_scaled_down);
            max_scaled_down -= step.remove_old_unavailable;
            let available = c.new_available + c.old_available;
            step.remove_old_available = available
                .saturating_sub(min_available)
                .min(max_scaled_down)
                .min(c.old_available);
        }
    }
    step
}

/// What one pass of a deployment paused in the middle of a rollout does (Kubernetes' `sync` of
/// a paused deployment): the rollout stands still, no new-template pod is made for it and no
/// old pod is taken away for it. Only a change of `replicas` is followed: pods missing below
/// `replicas` are made (of the new template), and pods beyond `replicas + maxSurge` (the most a
/// rollout may run; none at zero replicas) are taken away, old ones first.
pub fn plan_paused(strategy: &DeploymentStrategy, c: Counts) -> Step {
    let mut step = Step::default();
    let total = c.new + c.old;
    if total < c.replicas {
        step.create = c.replicas - total;
        return step;
    }
    // As Kubernetes' `scale`: no surge at zero replicas.
    let surge = match strategy.strategy_type {
        StrategyType::RollingUpdate if c.replicas > 0 => strategy.bounds(c.replicas).0,
        _ => 0,
    };
    let mut surplus = total.saturating_sub(c.replicas + surge);
    step.remove_old_unavailable = (c.old - c.old_available).min(surplus);
    surplus -= step.remove_old_unavailable;
    step.remove_old_available = c.old_available.min(surplus);
    surplus -= step.remove_old_available;
    step.remove_new = c.new.min(surplus);
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::{IntOrPercent, RollingUpdate};

    fn rolling(surge: IntOrPercent, unavailable: IntOrPercent) -> DeploymentStrategy {
        DeploymentStrategy {
            strategy_type: StrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdate {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        }
    }

    /// Runs a rollout of `replicas` pods to its end, every new pod turning available at once
    /// after the pass that made it; returns the most pods and the fewest available ones seen.
    fn simulate(strategy: &DeploymentStrategy, replicas: u32) -> (u32, u32, usize) {
        let mut c = Counts {
            replicas,
            old: replicas,
            old_available: replicas,
            ..Counts::default()
        };
        let (mut most, mut fewest, mut passes) = (c.new + c.old, replicas, 0);
        while c.old > 0 || c.new < replicas {
            passes += 1;
            assert!(passes < 100, "no progress: {c:?}");
            let s = plan(strategy, c);
            most = most.max(c.new + s.create + c.old);
            c.old -= s.remove_old_available + s.remove_old_unavailable;
            c.old_available -= s.remove_old_available;
            c.new += s.create;
            fewest = fewest.min(c.new_available + c.old_available);
            // The made pods turn ready before the next pass.
            c.new_available = c.new;
        }
        (most, fewest, passes)
    }

    #[test]
    fn rolling_updates_stay_within_surge_and_unavailable() {
        use IntOrPercent::{Int, Percent};
        // (surge, unavailable, replicas) -> most pods, fewest available.
        let cases = [
            (Percent(25), Percent(25), 4, 5, 3),
            (Percent(25), Percent(25), 3, 4, 3),
            (Int(0), Int(1), 3, 3, 2),
            (Int(2), Int(0), 3, 5, 3),
            (Percent(100), Int(0), 3, 6, 3),
            (Int(1), Int(1), 10, 11, 9),
        ];
        for (surge, unavailable, replicas, most, fewest) in cases {
            let (m, f, _) = simulate(&rolling(surge, unavailable), replicas);
            assert_eq!(
                (m, f),
                (most, fewest),
                "surge {surge:?} unavailable {unavailable:?} replicas {replicas}"
            );
        }
    }

    #[test]
    fn new_pods_that_do_not_turn_ready_keep_the_old_ones() {
        let s = rolling(IntOrPercent::Int(1), IntOrPercent::Int(0));
        let c = Counts {
            replicas: 3,
            new: 1,
            new_available: 0,
            old: 3,
            old_available: 3,
            old_terminating: 0,
        };
        assert_eq!(
            plan(&s, c),
            Step::default(),
            "nothing until the new pod serves"
        );
        // Old pods that do not serve go even then, within the surge budget.
        let c = Counts {
            old_available: 2,
            ..c
        };
        let step = plan(&s, c);
        assert_eq!(step.remove_old_unavailable, 0, "{step:?}");
        let s = rolling(IntOrPercent::Int(1), IntOrPercent::Int(1));
        let step = plan(&s, c);
        assert_eq!(step.remove_old_unavailable, 1, "{step:?}");
        assert_eq!(step.remove_old_available, 0, "{step:?}");
    }

    #[test]
    fn recreate_removes_every_old_pod_before_making_new_ones() {
        let s = DeploymentStrategy {
            strategy_type: StrategyType::Recreate,
            rolling_update: None,
        };
        let c = Counts {
            replicas: 2,
            old: 2,
            old_available: 2,
            ..Counts::default()
        };
        let step = plan(&s, c);
        assert_eq!((step.create, step.remove_old_available), (0, 2));
        let waiting = Counts {
            old: 0,
            old_available: 0,
            old_terminating: 2,
            ..c
        };
        assert_eq!(plan(&s, waiting).create, 0, "old pods still terminating");
        let done = Counts {
            old_terminating: 0,
            ..waiting
        };
        assert_eq!(plan(&s, done).create, 2);
    }

    #[test]
    fn scaling_without_a_rollout_is_immediate() {
        let s = DeploymentStrategy::default();
        let c = Counts {
            replicas: 5,
            new: 2,
            new_available: 2,
            ..Counts::default()
        };
        assert_eq!(plan(&s, c).create, 3);
        let c = Counts {
            replicas: 1,
            new: 3,
            new_available: 3,
            ..Counts::default()
        };
        assert_eq!(plan(&s, c).remove_new, 2);
    }

    #[test]
    fn a_paused_rollout_neither_makes_new_pods_nor_takes_old_ones_away() {
        let strategy = rolling(IntOrPercent::Int(1), IntOrPercent::Int(0));
        // 3 replicas, mid-rollout: 1 new (not yet available), 3 old.
        let mid = Counts {
            replicas: 3,
            new: 1,
            new_available: 0,
            old: 3,
            old_available: 3,
            old_terminating: 0,
        };
        assert_eq!(plan_paused(&strategy, mid), Step::default());
        // The new pod turns available: an unpaused pass would move on, a paused one does not.
        let moved = Counts {
            new_available: 1,
            ..mid
        };
        assert_ne!(plan(&strategy, moved), Step::default());
        assert_eq!(plan_paused(&strategy, moved), Step::default());
        // Scaled up while paused: the missing pods are made.
        let up = Counts { replicas: 6, ..mid };
        assert_eq!(plan_paused(&strategy, up).create, 2);
        // Scaled down while paused: beyond replicas + maxSurge go, old ones first.
        let down = Counts {
            replicas: 1,
            ..moved
        };
        assert_eq!(
            plan_paused(&strategy, down),
            Step {
                remove_old_available: 2,
                ..Step::default()
            }
        );
        let gone = Counts {
            replicas: 0,
            old: 0,
            old_available: 0,
            ..moved
        };
        assert_eq!(plan_paused(&strategy, gone).remove_new, 1);
    }
}
