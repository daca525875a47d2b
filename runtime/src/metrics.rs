//! The runtime's own figures, for the node's `GET /metrics`: how long instantiation takes (the
//! cold-start cost of a fresh instance), and how often the compiled-component cache answers.
//! One set per process (every worker of a process shares its runtime).

use wasmpod_api::metrics::{Counter, Histogram, Registry};

#[derive(Clone)]
pub(crate) struct RuntimeMetrics {
    pub(crate) registry: Registry,
    pub(crate) instantiate: Histogram,
    pub(crate) cache_hits: Counter,
    pub(crate) cache_misses: Counter,
    pub(crate) compile: Histogram,
}

impl RuntimeMetrics {
    pub(crate) fn new() -> RuntimeMetrics {
        let registry = Registry::default();
        let instantiate = registry
            .histogram(
                "wasmpod_instantiate_seconds",
                "Time to instantiate a component for one request (a fresh instance: the cold start).",
                &[],
            )
            .get(&[]);
        let cache = registry.counter(
            "wasmpod_compile_cache_requests_total",
            "Components asked of the compiled-component cache, by result (hit or miss).",
            &["result"],
        );
        let compile = registry
            .histogram(
                "wasmpod_compile_seconds",
                "Time to compile a component the cache did not have.",
                &[],
            )
            .get(&[]);
        RuntimeMetrics {
            instantiate,
            cache_hits: cache.get(&["hit"]),
            cache_misses: cache.get(&["miss"]),
            compile,
            registry,
        }
    }
}
