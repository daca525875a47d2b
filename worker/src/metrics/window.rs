//! Requests and their latencies over the last few seconds, in one-second slots: the rate and the
//! percentiles `wasmpod top` and the autoscaler read. Latencies land in log-scale buckets (four
//! per doubling, 10 µs to about 5 minutes), so a percentile is within ~9% of the true value.

use std::time::Duration;

/// Bucket `i` holds latencies up to `FLOOR * 2^(i / STEPS)`.
const FLOOR_SECONDS: f64 = 10e-6;
const STEPS_PER_DOUBLING: f64 = 4.0;
const BUCKETS: usize = 100;

#[derive(Clone)]
struct Slot {
    /// The second (since the window's clock started) this slot counts; stale slots are reset.
    second: u64,
    count: u32,
    latency: [u32; BUCKETS],
}

impl Slot {
    const EMPTY: Slot = Slot {
        second: u64::MAX,
        count: 0,
        latency: [0; BUCKETS],
    };
}

/// The last `len` seconds of requests.
pub struct Window {
    len: u64,
    slots: Vec<Slot>,
}

/// What a window says at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowFigures {
    pub requests: u64,
    pub per_second: f64,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

fn bucket_of(latency: Duration) -> usize {
    let s = latency.as_secs_f64();
    if s <= FLOOR_SECONDS {
        return 0;
    }
    let i = ((s / FLOOR_SECONDS).log2() * STEPS_PER_DOUBLING).ceil();
    (i as usize).min(BUCKETS - 1)
}

fn upper_bound(i: usize) -> f64 {
    FLOOR_SECONDS * (i as f64 / STEPS_PER_DOUBLING).exp2()
}

impl Window {
    /// A window of `len` seconds (at least one).
    pub fn new(len: u32) -> Window {
        let len = u64::from(len.max(1));
        Window {
            len,
            // One more slot than the window: the current second fills while the oldest counts.
            slots: vec![Slot::EMPTY; len as usize + 1],
        }
    }

    /// One request that completed during `second`, after `latency`.
    pub fn record(&mut self, second: u64, latency: Duration) {
        let n = self.slots.len();
        let slot = &mut self.slots[(second % n as u64) as usize];
        if slot.second != second {
            *slot = Slot {
                second,
                ..Slot::EMPTY
            };
        }
        slot.count = slot.count.saturating_add(1);
        let b = &mut slot.latency[bucket_of(latency)];
        *b = b.saturating_add(1);
    }

    /// The requests of the seconds `(now - len, now]`: their rate over the window's length and
    /// their median and 99th percentile latencies.
    pub fn figures(&self, now: u64) -> WindowFigures {
        let oldest = now.saturating_sub(self.len - 1);
        let live = || {
            self.slots
                .iter()
                .filter(move |s| s.second != u64::MAX && s.second >= oldest && s.second <= now)
        };
        let requests: u64 = live().map(|s| u64::from(s.count)).sum();
        let mut merged = [0u64; BUCKETS];
        for slot in live() {
            for (m, c) in merged.iter_mut().zip(slot.latency.iter()) {
                *m += u64::from(*c);
            }
        }
        let percentile = |q: f64| -> Option<Duration> {
            if requests == 0 {
                return None;
            }
            let rank = ((q * requests as f64).ceil() as u64).clamp(1, requests);
            let mut seen = 0;
            for (i, c) in merged.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    // The bucket's geometric middle.
                    let high = upper_bound(i);
                    let low = if i == 0 { high } else { upper_bound(i - 1) };
                    return Some(Duration::from_secs_f64((low * high).sqrt()));
                }
            }
            None
        };
        WindowFigures {
            requests,
            per_second: requests as f64 / self.len as f64,
            p50: percentile(0.5),
            p99: percentile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: Option<Duration>, want: Duration) -> bool {
        let got = got.expect("a percentile").as_secs_f64();
        let want = want.as_secs_f64();
        (got - want).abs() / want < 0.1
    }

    #[test]
    fn rate_and_percentiles_cover_the_last_seconds_only() {
        let mut w = Window::new(10);
        assert_eq!(w.figures(0).requests, 0);
        assert_eq!(w.figures(0).p50, None);
        // 99 fast requests and one slow one in second 3; 50 more in second 20.
        for _ in 0..99 {
            w.record(3, Duration::from_millis(2));
        }
        w.record(3, Duration::from_millis(800));
        let f = w.figures(5);
        assert_eq!(f.requests, 100);
        assert!((f.per_second - 10.0).abs() < 1e-9);
        assert!(close(f.p50, Duration::from_millis(2)), "{f:?}");
        assert!(close(f.p99, Duration::from_millis(2)), "{f:?}");
        let f = w.figures(12);
        assert_eq!(f.requests, 100, "second 3 is still within (2, 12]");
        assert_eq!(w.figures(13).requests, 0, "second 3 left the window");
        // A slot reused for a later second starts empty.
        for _ in 0..50 {
            w.record(25, Duration::from_millis(40));
        }
        let f = w.figures(25);
        assert_eq!(f.requests, 50);
        assert!(close(f.p99, Duration::from_millis(40)), "{f:?}");
    }

    #[test]
    fn the_99th_percentile_sees_the_slow_tail() {
        let mut w = Window::new(10);
        for _ in 0..90 {
            w.record(1, Duration::from_micros(500));
        }
        for _ in 0..10 {
            w.record(1, Duration::from_secs(2));
        }
        let f = w.figures(1);
        assert!(close(f.p50, Duration::from_micros(500)), "{f:?}");
        assert!(close(f.p99, Duration::from_secs(2)), "{f:?}");
    }

    #[test]
    fn extreme_latencies_stay_in_range() {
        let mut w = Window::new(1);
        w.record(0, Duration::ZERO);
        w.record(0, Duration::from_secs(100_000));
        let f = w.figures(0);
        assert_eq!(f.requests, 2);
        assert!(f.p99.is_some());
    }
}
