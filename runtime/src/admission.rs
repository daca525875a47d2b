//! Admission of instances into the node's pooling allocator: a request (or a command run) holds a
//! [`Permit`] for as long as its instance exists, so the pool can never overflow into a
//! `maximum concurrent limit ... reached` failure.
//!
//! Two limits, both checked without a lock on the fast path (atomics only):
//! - the node's pool: every instance costs its component's [`InstanceCost`] in pool slots (core
//!   instances, memories or tables, whichever it needs most), out of `max_instances`;
//! - the pod's concurrency (`containerConcurrency`): an explicit number of instances, or by
//!   default a fair share of the pool, `pool / pods on the node` instances but never less than
//!   an eighth of the pool ([`MIN_SHARE_DIVISOR`]), so a lone pod may use all of it and no pod can
//!   take more than its share once others run.
//!
//! A request that finds either limit reached waits in its pod's FIFO queue. Pods with waiters
//! take turns (round robin, one grant per pod per turn), so one pod's burst cannot starve
//! another's queue. A queue is bounded (`queue_depth` per pod) and so is the wait
//! (`queue_timeout`): past either the request is refused ([`Refused`]) and answered 503 with
//! `Retry-After` by the caller.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// A pod without an explicit limit may always use at least `pool / MIN_SHARE_DIVISOR` instances.
pub const MIN_SHARE_DIVISOR: u32 = 8;

/// How the node's admission is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Pool slots (the pooling allocator's size per pool).
    pub slots: u32,
    /// Requests that may wait per pod.
    pub queue_depth: usize,
    /// Longest a request waits for an instance.
    pub queue_timeout: Duration,
}

/// What one instance of a component takes from the pool: the pool has `max_instances` core
/// instances, memories and tables each, so the largest of the three is its cost in slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceCost {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
}

impl InstanceCost {
    /// Pool slots one instance takes (at least 1).
    pub fn slots(&self) -> u32 {
        self.core_instances
            .max(self.memories)
            .max(self.tables)
            .max(1)
    }
}

/// Why a request got no instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{waiting} requests already wait for this pod")]
    QueueFull { waiting: usize },
    #[error("no instance freed within {0:?}")]
    TimedOut(Duration),
}

/// The node-wide side: the pool's slots and the queues of every pod.
pub(crate) struct Admission {
    config: AdmissionConfig,
    used: AtomicU32,
    /// Requests in a queue or about to enter one; while above zero, every acquisition takes the
    /// slow path so it does not jump ahead of them.
    waiting: AtomicUsize,
    /// HTTP pods sharing the pool by default.
    sharing: AtomicU32,
    next_id: AtomicU64,
    queues: Mutex<Queues>,
}

#[derive(Default)]
struct Queues {
    pods: HashMap<u64, PodQueue>,
    /// Pods with waiters, in turn order.
    turns: VecDeque<u64>,
}

struct PodQueue {
    pod: Arc<PodAdmission>,
    waiters: VecDeque<Waiter>,
}

struct Waiter {
    id: u64,
    tx: oneshot::Sender<Permit>,
}

/// One pod's side: its limit and its instances in use.
pub(crate) struct PodAdmission {
    id: u64,
    node: Arc<Admission>,
    /// Pool slots per instance.
    cost: u32,
    /// Explicit limit in instances; `None`: the fair share.
    limit: Option<u32>,
    /// Counted among the pods the pool is shared between (HTTP pods).
    shares: bool,
    in_use: AtomicU32,
}

/// An admitted instance: held for as long as the instance exists, released when dropped.
pub(crate) struct Permit {
    pod: Arc<PodAdmission>,
}

impl Admission {
    pub(crate) fn new(config: AdmissionConfig) -> Arc<Admission> {
        Arc::new(Admission {
            config,
            used: AtomicU32::new(0),
            waiting: AtomicUsize::new(0),
            sharing: AtomicU32::new(0),
            next_id: AtomicU64::new(1),
            queues: Mutex::default(),
        })
    }

    /// A pod's admission. `limit` of `None` or 0: the fair share; `shares`: the pod counts as
    /// one of the pods the pool is shared between (HTTP pods do, command pods do not).
    pub(crate) fn pod(
        self: &Arc<Self>,
        cost: InstanceCost,
        limit: Option<u32>,
        shares: bool,
    ) -> Arc<PodAdmission> {
        if shares {
            self.sharing.fetch_add(1, SeqCst);
        }
        Arc::new(PodAdmission {
            id: self.next_id.fetch_add(1, SeqCst),
            node: self.clone(),
            cost: cost.slots(),
            limit: limit.filter(|l| *l > 0),
            shares,
            in_use: AtomicU32::new(0),
        })
    }

    fn queues(&self) -> MutexGuard<'_, Queues> {
        // The queues hold no invariant a panic elsewhere could break.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Instances of `cost` slots a pod without an explicit limit may run.
    fn fair_share(&self, cost: u32) -> u32 {
        let instances = self.config.slots / cost.max(1);
        let pods = self.sharing.load(SeqCst).max(1);
        (instances / pods).max(instances / MIN_SHARE_DIVISOR).max(1)
    }

    /// Takes a slot for `pod` if both limits allow it. Never notifies waiters (callers that
    /// hold the queue lock call it).
    fn try_take(&self, pod: &PodAdmission) -> bool {
        let limit = pod.limit();
        if pod
            .in_use
            .fetch_update(SeqCst, SeqCst, |n| (n < limit).then_some(n + 1))
            .is_err()
        {
            return false;
        }
        let (cost, slots) = (pod.cost, self.config.slots);
        if self
            .used
            .fetch_update(SeqCst, SeqCst, |u| {
                (u.saturating_add(cost) <= slots).then_some(u + cost)
            })
            .is_err()
        {
            pod.in_use.fetch_sub(1, SeqCst);
            return false;
        }
        true
    }

    /// Hands free slots to waiters, one pod at a time in turn, FIFO within a pod: a pass offers
    /// each pod with waiters one slot; the pods served go behind those that were not, so the
    /// next free slot goes to a pod that has waited longest for its turn. Permits whose waiter
    /// left meanwhile are collected in `orphans`, to be dropped after the lock is released.
    fn dispatch_locked(&self, queues: &mut Queues, orphans: &mut Vec<Permit>) {
        loop {
            let mut served = VecDeque::new();
            let mut passed = VecDeque::new();
            while let Some(id) = queues.turns.pop_front() {
                let Some(entry) = queues.pods.get_mut(&id) else {
                    continue;
                };
                while entry.waiters.front().is_some_and(|w| w.tx.is_closed()) {
                    entry.waiters.pop_front();
                    self.waiting.fetch_sub(1, SeqCst);
                }
                let mut granted = false;
                if !entry.waiters.is_empty() && self.try_take(&entry.pod) {
                    if let Some(waiter) = entry.waiters.pop_front() {
                        self.waiting.fetch_sub(1, SeqCst);
                        let permit = Permit {
                            pod: entry.pod.clone(),
                        };
                        if let Err(permit) = waiter.tx.send(permit) {
                            orphans.push(permit);
                        }
                        granted = true;
                    }
                }
                if entry.waiters.is_empty() {
                    queues.pods.remove(&id);
                } else if granted {
                    served.push_back(id);
                } else {
                    passed.push_back(id);
                }
            }
            let any = !served.is_empty();
            passed.append(&mut served);
            queues.turns = passed;
            if !any || queues.turns.is_empty() {
                return;
            }
        }
    }

    /// Called after slots were freed.
    fn dispatch(&self) {
        if self.waiting.load(SeqCst) == 0 {
            return;
        }
        let mut orphans = Vec::new();
        self.dispatch_locked(&mut self.queues(), &mut orphans);
        // Dropping an orphan frees its slot and dispatches again, without the lock held.
        drop(orphans);
    }

    /// Whether requests wait for an instance anywhere on the node (an idle instance kept for
    /// reuse is then better freed than kept).
    pub(crate) fn contended(&self) -> bool {
        self.waiting.load(SeqCst) > 0
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> u32 {
        self.used.load(SeqCst)
    }
}

impl PodAdmission {
    /// Whether requests wait for pool slots anywhere on the node.
    pub(crate) fn contended(&self) -> bool {
        self.node.contended()
    }

    /// This pod's limit in instances right now.
    pub(crate) fn limit(&self) -> u32 {
        match self.limit {
            Some(limit) => limit,
            None => self.node.fair_share(self.cost),
        }
    }

    /// Instances of this pod running now.
    pub(crate) fn in_use(&self) -> u32 {
        self.in_use.load(SeqCst)
    }

    /// A permit for one instance: at once if both limits allow it and nobody waits, else after
    /// waiting in this pod's queue.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Permit, Refused> {
        let node = &self.node;
        if node.waiting.load(SeqCst) == 0 {
            if node.try_take(self) {
                return Ok(Permit { pod: self.clone() });
            }
            // A failed attempt may have briefly held a pod slot another request saw taken.
            node.dispatch();
        }
        node.waiting.fetch_add(1, SeqCst);
        let waiter_id = node.next_id.fetch_add(1, SeqCst);
        let mut orphans = Vec::new();
        let rx = {
            let mut queues = node.queues();
            // Whoever waits already goes first.
            node.dispatch_locked(&mut queues, &mut orphans);
            let queued = queues.pods.get(&self.id).map_or(0, |e| e.waiters.len());
            if queued == 0 && node.try_take(self) {
                node.waiting.fetch_sub(1, SeqCst);
                drop(queues);
                drop(orphans);
                return Ok(Permit { pod: self.clone() });
            }
            if queued >= node.config.queue_depth {
                node.waiting.fetch_sub(1, SeqCst);
                drop(queues);
                drop(orphans);
                return Err(Refused::QueueFull { waiting: queued });
            }
            let (tx, rx) = oneshot::channel();
            let queues = &mut *queues;
            let entry = queues.pods.entry(self.id).or_insert_with(|| PodQueue {
                pod: self.clone(),
                waiters: VecDeque::new(),
            });
            if entry.waiters.is_empty() {
                queues.turns.push_back(self.id);
            }
            entry.waiters.push_back(Waiter { id: waiter_id, tx });
            rx
        };
        drop(orphans);
        let mut queued = Queued {
            pod: self,
            waiter: waiter_id,
            rx,
        };
        let timeout = node.config.queue_timeout;
        match tokio::time::timeout(timeout, &mut queued.rx).await {
            Ok(Ok(permit)) => Ok(permit),
            // Granted just as the wait ended: take it.
            _ => match queued.rx.try_recv() {
                Ok(permit) => Ok(permit),
                Err(_) => Err(Refused::TimedOut(timeout)),
            },
        }
    }
}

/// A place in a queue; leaving it (timeout, or the request's future dropped) removes it.
struct Queued<'a> {
    pod: &'a Arc<PodAdmission>,
    waiter: u64,
    rx: oneshot::Receiver<Permit>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        // A permit already sent is freed with `rx`; only a waiter still queued must go.
        self.rx.close();
        let node = &self.pod.node;
        let mut queues = node.queues();
        let queues = &mut *queues;
        let Some(entry) = queues.pods.get_mut(&self.pod.id) else {
            return;
        };
        let before = entry.waiters.len();
        entry.waiters.retain(|w| w.id != self.waiter);
        if entry.waiters.len() < before {
            node.waiting.fetch_sub(1, SeqCst);
        }
        if entry.waiters.is_empty() {
            queues.pods.remove(&self.pod.id);
            queues.turns.retain(|id| *id != self.pod.id);
        }
    }
}

impl Drop for PodAdmission {
    fn drop(&mut self) {
        if self.shares {
            self.node.sharing.fetch_sub(1, SeqCst);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let pod = &self.pod;
        pod.in_use.fetch_sub(1, SeqCst);
        pod.node.used.fetch_sub(pod.cost, SeqCst);
        pod.node.dispatch();
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
