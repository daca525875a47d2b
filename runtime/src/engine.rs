//! The process-wide runtime: one wasmtime `Engine` (pooling allocator, epoch interruption), one
//! linker, the compiled-component cache and the epoch ticker thread.

use crate::admission::{Admission, AdmissionConfig, InstanceCost};
use crate::cache::ComponentCache;
use crate::epoch::{EpochSignal, TickPace, Ticker};
use crate::error::boxed;
use crate::metrics::RuntimeMetrics;
use crate::state::{self, PodState, PodTemplate};
use crate::{CommandPod, HttpPod, PodLogs, PodRuntimeSpec, RuntimeError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// How the runtime is sized. Size the pool from the node's capacity: every slot reserves address
/// space (not memory) up front.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (created if missing).
    pub cache_dir: PathBuf,
    /// Size of each pool of the pooling allocator (component instances, core instances, memories,
    /// tables, stacks). One component instance uses several core instances and usually two
    /// memories, so concurrent instances are bounded by about `max_instances / 2`. Default 1000.
    pub max_instances: u32,
    /// Largest size of one linear memory, and the cap on an instance's total. Default 256 MiB.
    pub max_memory_per_instance: u64,
    /// Epoch tick while a guest computes: the longest a computing guest holds its gateway thread
    /// before it yields, and the granularity of request deadlines. Default 1 ms: the thread looks
    /// at its sockets before resuming that guest, so its other connections wait about one tick
    /// (hello's p99 beside a looping neighbour: 8 ms with 1 ms ticks, 59 ms with 10 ms ticks in
    /// `bench/results/2026-11-29-3299a90.md`).
    pub epoch_tick: Duration,
    /// Epoch tick while no guest has computed through a whole tick lately. Default 10 ms: short
    /// requests almost never meet a tick, and the node is not woken every millisecond for them
    /// (see `epoch.rs`).
    pub slow_epoch_tick: Duration,
    /// Requests that may wait per pod for an instance when its limit or the pool is reached.
    /// Default 4096.
    pub queue_depth: usize,
    /// Longest a request waits for an instance before it is answered 503. Default 10 s.
    pub queue_timeout: Duration,
}

impl RuntimeConfig {
    /// Defaults with the given cache directory.
    pub fn new(cache_dir: impl Into<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: cache_dir.into(),
            max_instances: 1000,
            max_memory_per_instance: 256 * 1024 * 1024,
            epoch_tick: Duration::from_millis(1),
            slow_epoch_tick: Duration::from_millis(10),
            queue_depth: 4096,
            queue_timeout: Duration::from_secs(10),
        }
    }
}

/// A compiled component, cheap to clone. Its pre-instantiation (imports resolved against the
/// linker) is made once and shared by every pod that runs it: thousands of pods of one
/// component cost one `InstancePre`.
#[derive(Clone)]
pub struct CompiledComponent {
    pub(crate) component: Component,
    /// The HTTP pre-instantiation, made by the first HTTP pod of this component.
    http_pre: Arc<std::sync::OnceLock<ProxyPre<PodState>>>,
    cost: InstanceCost,
}

impl CompiledComponent {
    fn new(component: Component, wasm: &[u8]) -> Self {
        let cost = crate::cost::instance_cost(&component, wasm);
        CompiledComponent {
            component,
            http_pre: Arc::default(),
            cost,
        }
    }

    /// What one instance takes from the pool.
    pub fn instance_cost(&self) -> InstanceCost {
        self.cost
    }
}

impl std::fmt::Debug for CompiledComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledComponent")
    }
}

/// The wasmtime-backed pod runtime. Cheap to clone; the epoch ticker stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<PodState>,
    cache: ComponentCache,
    max_memory_per_instance: u64,
    admission: Arc<Admission>,
    metrics: RuntimeMetrics,
    epoch: Arc<EpochSignal>,
    _ticker: Ticker,
}

impl Runtime {
    /// Builds the engine and linker, creates the cache directory and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let invalid = |s: &str| Err(RuntimeError::InvalidConfig(s.to_string()));
        if config.max_instances == 0 {
            return invalid("max_instances must be above zero");
        }
        if config.epoch_tick.is_zero() {
            return invalid("epoch_tick must be above zero");
        }
        if config.slow_epoch_tick < config.epoch_tick {
            return invalid("slow_epoch_tick must be at least epoch_tick");
        }
        if config.queue_timeout.is_zero() {
            return invalid("queue_timeout must be above zero");
        }
        let Ok(max_memory) = usize::try_from(config.max_memory_per_instance) else {
            return invalid("max_memory_per_instance does not fit this platform's address space");
        };
        if max_memory < 64 * 1024 {
            return invalid("max_memory_per_instance must be at least one wasm page (64 KiB)");
        }

        let n = config.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .max_memory_size(max_memory)
            .linear_memory_keep_resident(4 * 1024 * 1024)
            .table_keep_resident(64 * 1024)
            .async_stack_keep_resident(1024 * 1024);
        // PAGEMAP_SCAN needs Linux >= 6.7; without it wasmtime falls back to madvise.
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(Enabled::Yes);
        }

        let mut wasm = Config::new();
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            // WASI 0.2 components never run concurrently within a store.
            .concurrency_support(false)
            // No wasm GC: the wasmtime build has no collector, and WASI 0.2 guests need none.
            .gc_support(false);
        let engine = Engine::new(&wasm).map_err(|e| RuntimeError::Engine(boxed(e)))?;
        let linker = state::linker(&engine).map_err(|e| RuntimeError::Linker(boxed(e)))?;
        let cache = ComponentCache::new(&engine, &config.cache_dir)?;
        let epoch = Arc::new(EpochSignal::default());
        let pace = TickPace {
            fast: config.epoch_tick,
            slow: config.slow_epoch_tick,
        };
        let ticker = Ticker::start(engine.clone(), pace, epoch.clone())?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                max_memory_per_instance: config.max_memory_per_instance,
                admission: Admission::new(AdmissionConfig {
                    slots: n,
                    queue_depth: config.queue_depth,
                    queue_timeout: config.queue_timeout,
                }),
                metrics: RuntimeMetrics::new(),
                epoch,
                _ticker: ticker,
            }),
        })
    }

    /// The epochs the ticker advanced so far.
    #[cfg(test)]
    pub(crate) fn epoch_ticks(&self) -> u64 {
        self.inner.epoch.ticks()
    }

    /// The runtime's metrics (instantiation time, compile cache), for a `GET /metrics`.
    pub fn metrics_registry(&self) -> wasmpod_api::metrics::Registry {
        self.inner.metrics.registry.clone()
    }

    /// Compiles `wasm`, or loads it from the on-disk cache (keyed by the engine's compatibility
    /// hash and `digest`). Blocking: call it from `spawn_blocking`. A `sha256:<hex>` digest is
    /// checked against the bytes before compiling.
    pub fn load_component(
        &self,
        digest: &str,
        wasm: &[u8],
    ) -> Result<CompiledComponent, RuntimeError> {
        self.inner
            .cache
            .load(&self.inner.engine, digest, wasm, &self.inner.metrics)
            .map(|component| CompiledComponent::new(component, wasm))
    }

    /// Prepares an HTTP pod: fails if the component is not a `wasi:http` proxy, imports something
    /// not provided, or the spec is invalid (missing mount, bad outbound origin).
    pub fn http_pod(
        &self,
        component: &CompiledComponent,
        spec: PodRuntimeSpec,
        logs: PodLogs,
    ) -> Result<HttpPod, RuntimeError> {
        let pre = match component.http_pre.get() {
            Some(pre) => pre.clone(),
            None => {
                let pre = self
                    .inner
                    .linker
                    .instantiate_pre(&component.component)
                    .map_err(|e| RuntimeError::Link(boxed(e)))?;
                crate::world_check::check_http(&self.inner.engine, &component.component)
                    .map_err(|e| RuntimeError::NotHttpProxy(e.into()))?;
                let pre = ProxyPre::new(pre).map_err(|e| RuntimeError::NotHttpProxy(boxed(e)))?;
                let _ = component.http_pre.set(pre.clone());
                pre
            }
        };
        let limit = spec.container_concurrency;
        let template = self.template(spec, logs)?;
        let admission = self
            .inner
            .admission
            .pod(component.instance_cost(), limit, true);
        Ok(HttpPod::new(
            pre,
            template,
            admission,
            self.inner.metrics.instantiate.clone(),
        ))
    }

    /// A pod's template under this runtime's memory cap and epoch ticker.
    fn template(&self, spec: PodRuntimeSpec, logs: PodLogs) -> Result<PodTemplate, RuntimeError> {
        PodTemplate::new(
            spec,
            logs,
            self.inner.max_memory_per_instance,
            self.inner.epoch.clone(),
        )
    }

    /// Prepares a command pod: fails if the component does not export `wasi:cli/run`, imports
    /// something not provided, or the spec is invalid.
    pub fn command_pod(
        &self,
        component: &CompiledComponent,
        spec: PodRuntimeSpec,
        logs: PodLogs,
    ) -> Result<CommandPod, RuntimeError> {
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component.component)
            .map_err(|e| RuntimeError::Link(boxed(e)))?;
        crate::world_check::check_command(&self.inner.engine, &component.component)
            .map_err(|e| RuntimeError::NotCommand(e.into()))?;
        let pre = CommandPre::new(pre).map_err(|e| RuntimeError::NotCommand(boxed(e)))?;
        let template = self.template(spec, logs)?;
        // One instance at a time, not counted among the pods sharing the pool.
        let admission = self
            .inner
            .admission
            .pod(component.instance_cost(), Some(1), false);
        Ok(CommandPod::new(pre, template, admission))
    }
}
