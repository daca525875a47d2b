//! # wasmpod-runtime
//!
//! The wasmtime-backed pod runtime: it compiles (and caches) WebAssembly components and runs them
//! as pods. It owns the wasmtime `Engine`, the WASI contexts and the per-pod limits; it knows
//! nothing of the control plane, the worker, axum or the HTTP API.
//!
//! - [`Runtime`]: one per process. One engine with the pooling allocator and epoch interruption,
//!   one linker (WASI 0.2, `wasi:http`, `wasi:config`), an epoch ticker thread, and the on-disk
//!   cache of compiled components ([`Runtime::load_component`]).
//! - [`HttpPod`]: a `wasi:http/proxy` component; every request gets a fresh instance
//!   ([`HttpPod::handle`]), unless the pod opts into instance reuse (isolation traded for speed:
//!   up to `max_requests_per_instance` requests, one at a time, per instance). A trap, timeout or
//!   memory-limit kill answers `500`, is logged and drops the instance. Every instance is
//!   admitted first (`admission.rs`): per-pod concurrency (`containerConcurrency`, default a fair
//!   share of the pool) and the node's pool; a request that finds them full waits in a bounded,
//!   fair queue, and past its bound or timeout gets `503` with `Retry-After`.
//! - [`CommandPod`]: a `wasi:cli/command` component run to completion ([`CommandPod::run`]).
//! - [`PodRuntimeSpec`]: what a pod is granted (env, args, config, mounts, outbound origins) and
//!   how it is limited (memory, request timeout). WASI contexts deny everything else; outgoing
//!   HTTP goes through the [`OutboundRouter`] (the service mesh), then the allow-list. Every
//!   outgoing request carries [`HOPS_HEADER`]: the hop count of the request that started the
//!   instance plus one, set by the host (a guest cannot lower it).
//! - [`PodLogs`]: a bounded ring buffer of a pod's stdout/stderr and runtime messages.
//! - [`inspect_component`]: what a binary exports, without compiling it.

mod admission;
mod body_limit;
mod cache;
mod command_pod;
mod cost;
mod engine;
mod epoch;
mod error;
mod failure;
mod http_pod;
mod inspect;
pub mod keyvalue;
mod limits;
mod logs;
mod metrics;
mod outbound;
mod reuse;
mod spec;
mod state;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
mod world_check;

#[cfg(test)]
mod pod_tests;
#[cfg(test)]
mod reuse_tests;
#[cfg(test)]
mod test_components;

pub use admission::{InstanceCost, Refused, MIN_SHARE_DIVISOR};
pub use command_pod::{CommandExit, CommandPod};
pub use engine::{CompiledComponent, Runtime, RuntimeConfig};
pub use error::{BoxError, InspectError, RuntimeError};
pub use failure::causes as error_causes;
pub use http_pod::{
    text_response, unavailable_response, HttpPod, ResponseBody, WASMPOD_ERROR_HEADER,
};
pub use limits::MemoryLimitExceeded;
pub use logs::{LogFollower, PodLogs, DEFAULT_LOG_CAPACITY};
pub use outbound::{hops_of, BoxBody, OutboundRouter, RouteOutcome, RoutedFuture, HOPS_HEADER};
pub use spec::{Mount, PodRuntimeSpec};
pub use wasmpod_inspect::{inspect_component, ComponentWorld};
/// The error type of request and response bodies (`wasmtime_wasi_http::Error`).
pub use wasmtime_wasi_http::Error as HttpError;
