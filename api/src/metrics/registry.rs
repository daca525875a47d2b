//! The families one process exposes, rendered together for `GET /metrics`.

use super::{Counter, Family, Gauge, Histogram, Metric};
use std::sync::{Arc, Mutex};

type Encode = Box<dyn Fn(&mut String) + Send + Sync>;
type Refresh = Box<dyn Fn() + Send + Sync>;

/// What a process exposes: its families, and refreshers that set the gauges read from elsewhere
/// (pods pending, memory in use) just before each scrape.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    families: Vec<Encode>,
    refreshers: Vec<Refresh>,
}

impl Registry {
    fn add<M: Metric>(&self, family: Family<M>) -> Family<M> {
        let kept = family.clone();
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .families
            .push(Box::new(move |out| kept.encode(out)));
        family
    }

    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Family<Counter> {
        self.add(Family::new(name, help, labels))
    }

    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Family<Gauge> {
        self.add(Family::new(name, help, labels))
    }

    /// A histogram of durations in seconds ([`super::DURATION_BUCKETS`]).
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Family<Histogram> {
        self.add(Family::new(name, help, labels))
    }

    /// Runs `refresh` before every scrape.
    pub fn on_scrape(&self, refresh: impl Fn() + Send + Sync + 'static) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refreshers
            .push(Box::new(refresh));
    }

    /// Every family in the text format, after running the refreshers.
    pub fn encode(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for refresh in &inner.refreshers {
            refresh();
        }
        let mut out = String::with_capacity(4096);
        for family in &inner.families {
            family(&mut out);
        }
        out
    }
}

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
