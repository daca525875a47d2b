//! A small Prometheus text-format (0.0.4) library shared by the API server and the nodes:
//! counters, gauges and histograms kept in atomics, grouped in families with bounded label
//! values, and a [`Registry`] that renders them for `GET /metrics`.
//!
//! The request path holds a handle to its own series (a [`Counter`], [`Histogram`]) taken once
//! from its [`Family`] (when a pod starts serving, when a route is built); recording is then one
//! or two relaxed atomic adds, with no map lookup and no allocation.

mod family;
mod histogram;
mod registry;
mod text;

pub use family::Family;
pub use histogram::{Histogram, DURATION_BUCKETS};
pub use registry::{Registry, CONTENT_TYPE};

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// A monotonically increasing count (a `_total` series).
#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Clone, Default, Debug)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The class of an HTTP status code, the bounded label requests are counted by.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// What a series is, for its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// A metric value that can render itself as text-format sample lines.
pub trait Metric: Clone + Send + Sync + 'static {
    const TYPE: MetricType;
    fn write(&self, name: &str, labels: &str, out: &mut String);
}

impl Metric for Counter {
    const TYPE: MetricType = MetricType::Counter;
    fn write(&self, name: &str, labels: &str, out: &mut String) {
        text::sample(out, name, labels, None, self.get() as f64);
    }
}

impl Metric for Gauge {
    const TYPE: MetricType = MetricType::Gauge;
    fn write(&self, name: &str, labels: &str, out: &mut String) {
        text::sample(out, name, labels, None, self.get() as f64);
    }
}

#[cfg(test)]
mod tests;
