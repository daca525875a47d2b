//! Instance reuse, opt-in per HTTP pod (`PodRuntimeSpec::max_requests_per_instance` above 1):
//! isolation traded for speed. An instance that answered a request without trapping goes back to
//! its pod's idle list and serves the next request, up to the pod's maximum; then it is dropped.
//!
//! This follows `wasmtime serve --max-instance-reuse-count` for WASI 0.2 components: an instance
//! serves one request at a time (a `wasi:http/incoming-handler@0.2` export cannot be entered
//! concurrently), more requests at once get more instances, and an instance idle for longer than
//! [`IDLE_TIMEOUT`] is dropped (its pool slot freed). A trap, a timeout or a memory-limit kill
//! drops the instance: the next request gets a fresh one. Guest state (globals, linear memory,
//! resources the guest leaked) carries over between the requests one instance serves.

use crate::admission::Permit;
use crate::state::PodState;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

/// How long an idle instance is kept for the next request (as `wasmtime serve`'s default).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// At most this many idle instances per pod: each holds a slot of the pooling allocator. Above
/// the usual number of requests in flight (16 kept too few under 32 connections: instances were
/// dropped and recreated).
const MAX_IDLE: usize = 64;

/// An instantiated component with its store, between requests.
pub(crate) struct Instance {
    pub(crate) store: Store<PodState>,
    pub(crate) proxy: Proxy,
    /// Requests served so far.
    pub(crate) served: u32,
    /// Its admission: an idle instance still holds its pool slots.
    pub(crate) permit: Permit,
}

struct Idle {
    instance: Instance,
    since: Instant,
}

#[derive(Default)]
struct Slots {
    idle: Vec<Idle>,
    sweeping: bool,
}

/// The idle instances of one pod.
pub(crate) struct Reuse {
    max_requests: u32,
    slots: Mutex<Slots>,
}

impl Reuse {
    /// `None` when every request gets a fresh instance (`max_requests <= 1`).
    pub(crate) fn new(max_requests: u32) -> Option<Arc<Reuse>> {
        (max_requests > 1).then(|| {
            Arc::new(Reuse {
                max_requests,
                slots: Mutex::default(),
            })
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // An `Instance` has no invariant a panic elsewhere could break.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle instance, if there is one.
    pub(crate) fn take(&self) -> Option<Instance> {
        self.slots().idle.pop().map(|idle| idle.instance)
    }

    /// Keeps `instance` (which just served a request without failing) for the next request,
    /// unless it reached the maximum, the idle list is full or requests wait for pool slots
    /// (`contended`: the slot is then worth more to them). Instances idle for too long are
    /// dropped by a sweeper task on the current tokio runtime, started here when needed.
    pub(crate) fn give_back(self: &Arc<Self>, instance: Instance, contended: bool) {
        if instance.served >= self.max_requests || contended {
            return;
        }
        let now = Instant::now();
        let mut slots = self.slots();
        // The oldest come first; drop the expired ones here too, in case the sweeper's runtime
        // is gone.
        let expired = slots
            .idle
            .iter()
            .take_while(|idle| now.duration_since(idle.since) >= IDLE_TIMEOUT)
            .count();
        let expired: Vec<Idle> = slots.idle.drain(..expired).collect();
        if slots.idle.len() < MAX_IDLE {
            slots.idle.push(Idle {
                instance,
                since: now,
            });
            if !slots.sweeping && tokio::runtime::Handle::try_current().is_ok() {
                slots.sweeping = true;
                tokio::spawn(sweep(Arc::downgrade(self)));
            }
        }
        drop(slots);
        drop(expired);
    }

    /// Drops the instances idle for [`IDLE_TIMEOUT`]; `false` (the sweeper stops) once none is
    /// left.
    fn prune(&self) -> bool {
        let now = Instant::now();
        let mut slots = self.slots();
        let (expired, kept): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut slots.idle)
            .into_iter()
            .partition(|idle| now.duration_since(idle.since) >= IDLE_TIMEOUT);
        slots.idle = kept;
        slots.sweeping = !slots.idle.is_empty();
        let more = slots.sweeping;
        drop(slots);
        // Stores are dropped outside the lock.
        drop(expired);
        more
    }

    /// Idle instances right now.
    pub(crate) fn idle(&self) -> usize {
        self.slots().idle.len()
    }
}

async fn sweep(reuse: Weak<Reuse>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 2).await;
        let Some(reuse) = reuse.upgrade() else { return };
        if !reuse.prune() {
            return;
        }
    }
}
