//! CrashLoopBackOff timing: a short first delay, doubling per crash, capped, and forgotten once
//! the pod has run healthily for a while.

use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// A run at least this long resets the delay to `initial`.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    next: Duration,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Backoff {
        Backoff {
            policy,
            next: policy.initial,
        }
    }

    /// The delay before restarting a pod that started at `started` and just stopped.
    pub fn after_crash(&mut self, started: Instant) -> Duration {
        if started.elapsed() >= self.policy.reset_after {
            self.next = self.policy.initial;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.policy.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn crashed_pod_restarts_with_doubling_capped_backoff() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            reset_after: Duration::from_secs(10),
        };
        let mut backoff = Backoff::new(policy);
        let delays: Vec<u64> = (0..5)
            .map(|_| backoff.after_crash(Instant::now()).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[tokio::test(start_paused = true)]
    async fn healthy_run_resets_backoff() {
        let mut backoff = Backoff::new(BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            reset_after: Duration::from_secs(10),
        });
        backoff.after_crash(Instant::now());
        backoff.after_crash(Instant::now());
        let started = Instant::now();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(backoff.after_crash(started), Duration::from_millis(100));
    }
}
