//! A family: one metric name and its series, one per set of label values.

use super::{text, Metric};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The series of one metric, by label values (in the order of the family's label names).
#[derive(Clone)]
pub struct Family<M: Metric> {
    inner: Arc<Inner<M>>,
}

struct Inner<M> {
    name: &'static str,
    help: &'static str,
    label_names: &'static [&'static str],
    make: fn() -> M,
    series: Mutex<BTreeMap<Vec<String>, Series<M>>>,
}

struct Series<M> {
    /// The rendered labels, built once.
    labels: String,
    metric: M,
}

impl<M: Metric + Default> Family<M> {
    pub fn new(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
    ) -> Family<M> {
        Family::with(name, help, label_names, M::default)
    }
}

impl<M: Metric> Family<M> {
    /// A family whose series are made by `make` (a histogram with its own buckets).
    pub fn with(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
        make: fn() -> M,
    ) -> Family<M> {
        Family {
            inner: Arc::new(Inner {
                name,
                help,
                label_names,
                make,
                series: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The series of `values` (one per label name; missing ones are empty), created if new.
    /// Take it once and keep the handle: this is a map lookup.
    pub fn get(&self, values: &[&str]) -> M {
        let key: Vec<String> = (0..self.inner.label_names.len())
            .map(|i| values.get(i).copied().unwrap_or_default().to_string())
            .collect();
        let mut series = self.inner.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = series.get(&key) {
            return existing.metric.clone();
        }
        let metric = (self.inner.make)();
        let labels = text::labels(self.inner.label_names, &key);
        series.insert(
            key,
            Series {
                labels,
                metric: metric.clone(),
            },
        );
        metric
    }

    /// Keeps only the series whose label values `keep` accepts (a stopped pod's are dropped).
    pub fn retain(&self, mut keep: impl FnMut(&[String]) -> bool) {
        self.inner
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|values, _| keep(values));
    }

    /// The value of the label `name` among `values` (for [`Family::retain`]).
    pub fn label<'a>(&self, values: &'a [String], name: &str) -> Option<&'a str> {
        let i = self.inner.label_names.iter().position(|n| *n == name)?;
        values.get(i).map(String::as_str)
    }

    pub(crate) fn encode(&self, out: &mut String) {
        text::header(out, self.inner.name, self.inner.help, M::TYPE.as_str());
        let series = self.inner.series.lock().unwrap_or_else(|p| p.into_inner());
        for s in series.values() {
            s.metric.write(self.inner.name, &s.labels, out);
        }
    }
}
