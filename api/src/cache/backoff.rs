//! How long to wait after a failed list or watch: doubling from `initial` up to `max`, each wait
//! drawn between half and all of the current step (so that many nodes cut off together do not
//! come back together), and back to `initial` once a call succeeds.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    step: Duration,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Backoff {
        Backoff {
            policy,
            step: policy.initial,
        }
    }

    /// The wait before the next try: in `[step / 2, step]`; the step then doubles (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.policy.max);
        let half = step / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// A call succeeded: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.step = self.policy.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset_after_a_success() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(800),
        };
        let mut backoff = Backoff::new(policy);
        let steps = [100u64, 200, 400, 800, 800, 800];
        for step in steps {
            let delay = backoff.next_delay();
            let step = Duration::from_millis(step);
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} outside {step:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
