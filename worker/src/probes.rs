//! Readiness and liveness probes: an HTTP GET to the pod itself, in process.

use bytes::Bytes;
use http_body_util::Empty;
use std::time::Duration;
use tokio::time::Instant;
use wasmpod_api::Probe;
use wasmpod_runtime::HttpPod;

/// Calls `path` on the pod; a status in 200..400 within `timeout` passes.
pub async fn check(pod: &HttpPod, path: &str, timeout: Duration) -> bool {
    let Ok(request) = http::Request::get(format!("http://localhost{path}"))
        .header(http::header::HOST, "localhost")
        .header("user-agent", "wasmpod-probe")
        .body(Empty::<Bytes>::new())
    else {
        return false;
    };
    match tokio::time::timeout(timeout, pod.handle(request)).await {
        Ok(response) => (200..400).contains(&response.status().as_u16()),
        Err(_) => false,
    }
}

/// One probe's schedule and counters.
pub struct ProbeRunner {
    pub probe: Probe,
    pub next: Instant,
    successes: u32,
    failures: u32,
    /// The last verdict the thresholds allowed (None before the first).
    pub passing: Option<bool>,
}

impl ProbeRunner {
    pub fn new(probe: Probe) -> ProbeRunner {
        ProbeRunner {
            next: Instant::now() + Duration::from_secs(probe.initial_delay_seconds),
            probe,
            successes: 0,
            failures: 0,
            passing: None,
        }
    }

    /// How long one check may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.probe.timeout_seconds)
    }

    /// Awaits one check (`check`, e.g. [`check`]) and returns the new verdict when it changed.
    pub async fn run(&mut self, check: impl std::future::Future<Output = bool>) -> Option<bool> {
        let ok = check.await;
        self.next = Instant::now() + Duration::from_secs(self.probe.period_seconds);
        self.record(ok)
    }

    fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let verdict = if self.successes >= self.probe.success_threshold {
            Some(true)
        } else if self.failures >= self.probe.failure_threshold {
            Some(false)
        } else {
            None
        };
        match verdict {
            Some(v) if self.passing != Some(v) => {
                self.passing = Some(v);
                Some(v)
            }
            _ => None,
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::HttpGetAction;

    #[test]
    fn thresholds_decide_transitions() {
        let probe = Probe {
            http_get: HttpGetAction { path: "/".into() },
            initial_delay_seconds: 0,
            period_seconds: 1,
            timeout_seconds: 1,
            failure_threshold: 2,
            success_threshold: 1,
        };
        let mut runner = ProbeRunner::new(probe);
        assert_eq!(runner.record(true), Some(true));
        assert_eq!(runner.record(false), None);
        assert_eq!(runner.record(false), Some(false));
        assert_eq!(runner.record(false), None);
        assert_eq!(runner.record(true), Some(true));
    }
}
