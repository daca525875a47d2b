//! A histogram of durations, in seconds: fixed bucket bounds, one atomic count per bucket and a
//! sum kept in nanoseconds (exact, one atomic add).

use super::{text, Metric, MetricType};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bounds (seconds) for request, instantiation and compile durations: 100 µs to 60 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug)]
pub struct Histogram(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    bounds: &'static [f64],
    /// One per bound plus `+Inf`, each counting the observations that fall in it alone.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// `bounds` must increase; the `+Inf` bucket is implied.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram(Arc::new(Inner {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        let i = self.0.bounds.partition_point(|b| *b < seconds);
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The observations so far: the buckets' sum (the request path adds to one bucket only).
    pub fn count(&self) -> u64 {
        self.0
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new(DURATION_BUCKETS)
    }
}

impl Metric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;

    fn write(&self, name: &str, labels: &str, out: &mut String) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let mut le = String::new();
        for (i, count) in self.0.buckets.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            le.clear();
            match self.0.bounds.get(i) {
                Some(bound) => text::number(&mut le, *bound),
                None => le.push_str("+Inf"),
            }
            text::sample(out, &bucket, labels, Some(("le", &le)), cumulative as f64);
        }
        text::sample(
            out,
            &format!("{name}_sum"),
            labels,
            None,
            self.sum_seconds(),
        );
        // The count is the `+Inf` bucket's, so the two agree within one scrape.
        text::sample(
            out,
            &format!("{name}_count"),
            labels,
            None,
            cumulative as f64,
        );
    }
}
