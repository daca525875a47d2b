//! The live figures of one pod on this node: requests in flight, the last seconds' requests and
//! latencies, restarts and the time of the last request. Updated by the gateway's request hook
//! ([`super::hook`]), read by `GET /podmetrics` on the agent port.

use super::window::Window;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmpod_api::pod_metrics::{PodMetrics, WINDOW_SECONDS};
use wasmpod_api::ObjectKey;

pub struct PodStats {
    key: ObjectKey,
    /// When these figures started (the pod first seen on this node): the clock of the window.
    born: Instant,
    in_flight: AtomicU64,
    requests: AtomicU64,
    /// Milliseconds after `born` of the last completed request, plus one (0: none yet).
    last_request: AtomicU64,
    restarts: AtomicU64,
    window: Mutex<Window>,
}

/// The end of one request in flight: counted as completed by [`PodStats::finish`], or merely no
/// longer in flight when dropped first (the client went away).
pub struct InFlight<'a> {
    stats: &'a PodStats,
    started: Instant,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InFlight<'_> {
    /// The request got its response's head: count it, and return how long it took.
    pub fn finish(self) -> Duration {
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.started);
        self.stats.completed(now, latency);
        latency
    }
}

impl PodStats {
    pub fn new(key: ObjectKey) -> PodStats {
        PodStats::born_at(key, Instant::now())
    }

    fn born_at(key: ObjectKey, born: Instant) -> PodStats {
        PodStats {
            key,
            born,
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            window: Mutex::new(Window::new(WINDOW_SECONDS)),
        }
    }

    pub fn key(&self) -> &ObjectKey {
        &self.key
    }

    /// A request arrives for this pod.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            stats: self,
            started: Instant::now(),
        }
    }

    fn completed(&self, now: Instant, latency: Duration) {
        let since = now.saturating_duration_since(self.born);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let millis = u64::try_from(since.as_millis()).unwrap_or(u64::MAX - 1);
        self.last_request.store(millis + 1, Ordering::Relaxed);
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(since.as_secs(), latency);
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The pod's restart count as its status says it; returns how many restarts are new.
    pub fn set_restarts(&self, restarts: u64) -> u64 {
        let before = self.restarts.swap(restarts, Ordering::Relaxed);
        restarts.saturating_sub(before)
    }

    /// The figures now, with `memory_bytes` read from the pod's instances by the caller.
    pub fn snapshot(&self, node: &str, memory_bytes: u64) -> PodMetrics {
        self.snapshot_at(node, memory_bytes, Instant::now(), Utc::now())
    }

    fn snapshot_at(
        &self,
        node: &str,
        memory_bytes: u64,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> PodMetrics {
        let since = now.saturating_duration_since(self.born);
        let figures = self
            .window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .figures(since.as_secs());
        let last = match self.last_request.load(Ordering::Relaxed) {
            0 => None,
            millis => Some(Duration::from_millis(millis - 1)),
        };
        let idle = since.saturating_sub(last.unwrap_or_default());
        let last_request = last.and_then(|_| {
            chrono::Duration::from_std(idle)
                .ok()
                .and_then(|idle| wall.checked_sub_signed(idle))
        });
        PodMetrics {
            namespace: self.key.namespace.clone(),
            pod: self.key.name.clone(),
            node: node.to_string(),
            in_flight: self.in_flight(),
            requests_total: self.requests.load(Ordering::Relaxed),
            requests_per_second: figures.per_second,
            p50_seconds: figures.p50.map(|d| d.as_secs_f64()),
            p99_seconds: figures.p99.map(|d| d.as_secs_f64()),
            memory_bytes,
            restarts: self.restarts.load(Ordering::Relaxed),
            last_request,
            idle_seconds: idle.as_secs_f64(),
            window_seconds: WINDOW_SECONDS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::Kind;

    #[test]
    fn requests_move_the_figures_and_in_flight_ends_even_when_dropped() {
        let stats = PodStats::new(ObjectKey::new(Kind::Pod, "default", "web-1"));
        let idle = stats.snapshot("n1", 0);
        assert_eq!(idle.requests_total, 0);
        assert_eq!(idle.last_request, None);
        assert_eq!(idle.p50_seconds, None);
        let a = stats.start();
        let b = stats.start();
        assert_eq!(stats.in_flight(), 2);
        std::thread::sleep(Duration::from_millis(5));
        let latency = a.finish();
        assert!(latency >= Duration::from_millis(5));
        drop(b); // the client went away: not a completed request
        let now = stats.snapshot("n1", 4096);
        assert_eq!(now.in_flight, 0);
        assert_eq!(now.requests_total, 1);
        assert!((now.requests_per_second - 0.1).abs() < 1e-9, "{now:?}");
        let p50 = now.p50_seconds.expect("p50");
        assert!(p50 > 0.004 && p50 < 0.5, "{now:?}");
        assert!(now.last_request.is_some());
        assert!(now.idle_seconds < 1.0);
        assert_eq!(now.memory_bytes, 4096);
        assert_eq!(
            (now.namespace.as_str(), now.pod.as_str()),
            ("default", "web-1")
        );
    }

    #[test]
    fn the_window_forgets_and_idle_time_grows() {
        let born = Instant::now();
        let stats = PodStats::born_at(ObjectKey::new(Kind::Pod, "default", "web-1"), born);
        stats.completed(born + Duration::from_secs(1), Duration::from_millis(3));
        let wall = Utc::now();
        let later = stats.snapshot_at("n1", 0, born + Duration::from_secs(30), wall);
        assert_eq!(later.requests_total, 1);
        assert_eq!(later.requests_per_second, 0.0);
        assert_eq!(later.p99_seconds, None);
        assert!((later.idle_seconds - 29.0).abs() < 0.01, "{later:?}");
        let last = later.last_request.expect("last request");
        assert!(((wall - last).num_milliseconds() - 29_000).abs() < 10);
    }

    #[test]
    fn restarts_report_only_new_ones() {
        let stats = PodStats::new(ObjectKey::new(Kind::Pod, "default", "job"));
        assert_eq!(stats.set_restarts(0), 0);
        assert_eq!(stats.set_restarts(2), 2);
        assert_eq!(stats.set_restarts(2), 0);
        assert_eq!(stats.snapshot("n1", 0).restarts, 2);
    }
}
