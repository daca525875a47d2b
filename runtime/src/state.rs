//! The data of one store (one instance of one pod), and the per-pod template that builds it. The
//! WASI context denies by default: no host environment, no sockets, no stdin; only the env, args,
//! mounts and config the pod spec grants.

use crate::epoch::EpochSignal;
use crate::keyvalue::{self, KeyValueGrants, KeyValueView};
use crate::limits::{self, MemoryLimiter};
use crate::outbound::{Egress, EgressHooks};
use crate::{PodLogs, PodRuntimeSpec, RuntimeError};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The `T` of every `Store<T>` this runtime creates.
pub(crate) struct PodState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: EgressHooks,
    config: Arc<WasiConfigVariables>,
    key_value: Arc<KeyValueGrants>,
    limiter: MemoryLimiter,
}

impl WasiView for PodState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PodState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl PodState {
    /// What the request this store serves passes on to the guest's outgoing calls: its
    /// `traceparent` (continued) and its hop count (plus one).
    pub(crate) fn set_inbound(&mut self, trace_parent: Option<http::HeaderValue>, hops: u32) {
        self.hooks.trace_parent = trace_parent;
        self.hooks.hops = hops;
    }
}

fn config_view(state: &mut PodState) -> WasiConfig<'_> {
    WasiConfig::from(&*state.config)
}

fn key_value_view(state: &mut PodState) -> KeyValueView<'_> {
    KeyValueView {
        grants: &state.key_value,
        table: &mut state.table,
    }
}

/// The one linker: all of WASI 0.2, `wasi:http`, `wasi:config` and `wasi:keyvalue`. Pods are limited by their
/// context, not by what is linked.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<PodState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, config_view)?;
    keyvalue::add_to_linker(&mut linker, key_value_view)?;
    Ok(linker)
}

/// What every store of one pod is built from.
pub(crate) struct PodTemplate {
    pub(crate) name: String,
    env: Vec<(String, String)>,
    argv: Vec<String>,
    config: Arc<WasiConfigVariables>,
    key_value: Arc<KeyValueGrants>,
    mounts: Vec<crate::Mount>,
    memory_cap: u64,
    pub(crate) request_timeout: Duration,
    pub(crate) max_requests_per_instance: u32,
    pub(crate) max_request_body_bytes: u64,
    egress: Arc<Egress>,
    pub(crate) logs: PodLogs,
    /// Linear memory of this pod's live stores, together.
    pub(crate) memory_in_use: Arc<std::sync::atomic::AtomicU64>,
    /// The runtime's epoch ticker, which this pod's computing guests speed up.
    pub(crate) epoch: Arc<EpochSignal>,
}

impl PodTemplate {
    /// Validates the spec (mounts exist, origins parse) so a bad spec fails at pod creation.
    pub(crate) fn new(
        spec: PodRuntimeSpec,
        logs: PodLogs,
        max_memory_per_instance: u64,
        epoch: Arc<EpochSignal>,
    ) -> Result<PodTemplate, RuntimeError> {
        for mount in &spec.mounts {
            if !mount.host_path.is_dir() {
                return Err(RuntimeError::InvalidSpec(format!(
                    "mount {} -> {}: host path is not a directory",
                    mount.host_path.display(),
                    mount.guest_path
                )));
            }
        }
        if spec.request_timeout.is_zero() {
            return Err(RuntimeError::InvalidSpec(
                "request timeout must be above zero".into(),
            ));
        }
        if spec.max_requests_per_instance == 0 {
            return Err(RuntimeError::InvalidSpec(
                "max requests per instance must be at least 1".into(),
            ));
        }
        let egress = Egress::new(
            &spec.name,
            &spec.allowed_outbound_hosts,
            spec.outbound,
            logs.clone(),
        )?;
        let memory_cap = spec
            .memory_limit_bytes
            .map_or(max_memory_per_instance, |l| l.min(max_memory_per_instance));
        let mut argv = Vec::with_capacity(spec.args.len() + 1);
        argv.push(spec.name.clone());
        argv.extend(spec.args);
        Ok(PodTemplate {
            name: spec.name,
            env: spec.env,
            argv,
            config: Arc::new(spec.config.into_iter().collect()),
            key_value: spec.key_value,
            mounts: spec.mounts,
            memory_cap,
            request_timeout: spec.request_timeout,
            max_requests_per_instance: spec.max_requests_per_instance,
            max_request_body_bytes: spec.max_request_body_bytes,
            egress: Arc::new(egress),
            logs,
            memory_in_use: Arc::default(),
            epoch,
        })
    }

    /// A fresh store with this pod's grants and limits; `timeout` bounds guest execution.
    pub(crate) fn new_store(
        &self,
        engine: &Engine,
        timeout: Option<Duration>,
    ) -> wasmtime::Result<Store<PodState>> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.envs(&self.env)
            .args(&self.argv)
            .stdout(self.logs.clone())
            .stderr(self.logs.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for mount in &self.mounts {
            let perms = if mount.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&mount.host_path, &mount.guest_path, perms)?;
        }
        let state = PodState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: EgressHooks {
                egress: self.egress.clone(),
                trace_parent: None,
                hops: 0,
            },
            config: self.config.clone(),
            key_value: self.key_value.clone(),
            limiter: MemoryLimiter::new(self.memory_cap, self.memory_in_use.clone()),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        limits::set_deadline(&mut store, timeout, &self.epoch);
        Ok(store)
    }
}
