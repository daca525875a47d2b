//! Per-store limits: a memory cap over all of an instance's linear memories, and the epoch
//! deadline that interrupts a guest which runs too long (and makes a long-running guest yield to
//! the executor every tick, so one busy pod cannot starve a `current_thread` runtime).

use crate::epoch::EpochSignal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

/// The error a guest traps with when it grows memory past its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (tried to grow to {desired} bytes)")]
pub struct MemoryLimitExceeded {
    pub limit: u64,
    pub desired: u64,
}

/// Caps the sum of all linear memories of one store; growing past it traps the guest. What the
/// store uses is also added to its pod's total (`pod_total`), and taken back when the store goes.
pub(crate) struct MemoryLimiter {
    limit: u64,
    used: u64,
    pod_total: Arc<AtomicU64>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64, pod_total: Arc<AtomicU64>) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            used: 0,
            pod_total,
        }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.pod_total.fetch_sub(self.used, Ordering::Relaxed);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = (desired as u64).saturating_sub(current as u64);
        let total = self.used.saturating_add(growth);
        if total > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                desired: total,
            }));
        }
        self.used = total;
        self.pod_total.fetch_add(growth, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Table sizes are bounded by the pooling allocator's slots.
        Ok(true)
    }
}

/// Interrupts the guest once `timeout` has passed (`None`: never), yielding to the async executor
/// at every epoch tick in between; a guest still running at its second tick (it computed through
/// a whole tick) tells the ticker to tick fast (see `epoch.rs`).
///
/// The yield is tokio's `yield_now`, not wasmtime's plain `Yield`: tokio defers the guest's wake-up
/// until it has looked at the sockets and timers, so the other connections on a looping guest's
/// thread are seen every tick. A plain yield wakes the task at once, and a `current_thread`
/// runtime then looks at its sockets only every 61 polls (the hello pod's p99 beside a looping
/// guest rose to that guest's 1 s deadline); looking more often instead costs every request.
pub(crate) fn set_deadline<T: 'static>(
    store: &mut Store<T>,
    timeout: Option<Duration>,
    epoch: &Arc<EpochSignal>,
) {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let epoch = epoch.clone();
    let mut ticks_met = 0u32;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(UpdateDeadline::Interrupt);
        }
        ticks_met = ticks_met.saturating_add(1);
        if ticks_met >= 2 {
            epoch.computing();
        }
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limiter_counts_all_memories() {
        let pod_total = Arc::new(AtomicU64::new(0));
        let mut limiter = MemoryLimiter::new(100, pod_total.clone());
        let mut other = MemoryLimiter::new(100, pod_total.clone());
        assert!(limiter.memory_growing(0, 60, None).is_ok());
        assert!(limiter.memory_growing(0, 30, None).is_ok());
        assert!(other.memory_growing(0, 5, None).is_ok());
        let err = limiter
            .memory_growing(30, 50, None)
            .expect_err("should fail");
        assert!(err.downcast_ref::<MemoryLimitExceeded>().is_some());
        assert_eq!(
            pod_total.load(Ordering::Relaxed),
            95,
            "a refused growth is not counted"
        );
        drop(limiter);
        assert_eq!(
            pod_total.load(Ordering::Relaxed),
            5,
            "a dropped store gives its memory back"
        );
    }
}
