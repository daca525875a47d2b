//! Waiting on the store from synchronous code without starving the async runtime.
//!
//! The registry's API is synchronous, and async code (API handlers, the autoscaler) calls it
//! straight from a tokio worker thread. A call that waits for etcd (a network round trip, or
//! seconds while etcd stalls) would hold that worker the whole time, and with every worker held
//! nothing else on the server runs: not `/healthz`, not a request that never touches the store.
//! [`off_worker`] hands the worker's other tasks to another thread for the duration of the wait
//! (`tokio::task::block_in_place`), so only the caller's own task waits.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Where a blocking wait happens, as [`off_worker`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitSite {
    /// A multi-thread runtime: its worker's other tasks move to another thread meanwhile (on a
    /// thread of its blocking pool, or in its `block_on`, the wait just happens).
    MultiThread,
    /// A current-thread runtime (or a flavor this code does not know): nothing can take the
    /// thread's other tasks over, so the wait holds them, as any blocking call there would.
    /// The servers never run the registry on one (the binary's runtime is multi-thread; the
    /// election's own current-thread runtime never calls the store).
    CurrentThread,
    /// No runtime: a plain thread, free to block.
    NoRuntime,
}

/// Where a wait on this thread would happen.
pub fn wait_site() -> WaitSite {
    match Handle::try_current() {
        Ok(handle) => match handle.runtime_flavor() {
            RuntimeFlavor::MultiThread => WaitSite::MultiThread,
            _ => WaitSite::CurrentThread,
        },
        Err(_) => WaitSite::NoRuntime,
    }
}

/// Runs `wait` (something that blocks this thread: an etcd call, a lock held across one) so that
/// it does not starve the runtime whose thread this may be.
pub fn off_worker<R>(wait: impl FnOnce() -> R) -> R {
    match wait_site() {
        // block_in_place panics only on a current-thread runtime, which this excludes.
        WaitSite::MultiThread => tokio::task::block_in_place(wait),
        WaitSite::CurrentThread | WaitSite::NoRuntime => wait(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// With the only worker thread of a runtime inside a long wait, another task still runs.
    #[test]
    fn a_wait_on_the_only_worker_leaves_other_tasks_running() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        runtime.block_on(async move {
            let waiting = tokio::spawn(async move {
                off_worker(|| {
                    let _ = started_tx.send(());
                    // Bounded: the test releases it, or it gives up after 10 s.
                    release_rx.recv_timeout(Duration::from_secs(10)).is_ok()
                })
            });
            tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(10)))
                .await
                .expect("join")
                .expect("the wait started");
            // The worker is inside the wait: this task runs only if the wait let it go.
            let other = tokio::spawn(async { Instant::now() });
            let answered = tokio::time::timeout(Duration::from_secs(5), other).await;
            let _ = release_tx.send(());
            assert!(
                answered.is_ok(),
                "a task waited for another task's blocking call"
            );
            assert!(waiting.await.expect("join"), "the wait was released");
        });
    }

    #[test]
    fn a_wait_on_a_current_thread_runtime_or_no_runtime_just_runs() {
        assert_eq!(wait_site(), WaitSite::NoRuntime);
        assert_eq!(off_worker(|| 7), 7);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            assert_eq!(wait_site(), WaitSite::CurrentThread);
            // block_in_place would panic here.
            assert_eq!(off_worker(|| 8), 8);
            let on_pool = tokio::task::spawn_blocking(|| off_worker(|| 9));
            assert_eq!(on_pool.await.expect("join"), 9);
        });
    }

    #[test]
    fn a_wait_on_a_multi_thread_blocking_pool_or_block_on_just_runs() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        assert_eq!(runtime.block_on(async { off_worker(|| 1) }), 1);
        let on_pool = runtime.spawn_blocking(|| off_worker(|| 2));
        assert_eq!(runtime.block_on(on_pool).expect("join"), 2);
    }
}
