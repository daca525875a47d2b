//! The epoch ticker: the thread that advances the engine's epoch, which is what makes a running
//! guest yield to its thread and what interrupts it at its deadline (see `limits::set_deadline`).
//!
//! It keeps two paces. While no guest computes for long it ticks slowly (10 ms by default): a
//! short request (hello runs for tens of microseconds) then almost never meets a tick, and an
//! idle or busy-but-short node is not woken a thousand times a second, a cost every request pays
//! in context switches. A guest still running at its second tick (one that has computed for a
//! whole slow tick) tells the ticker, which then ticks fast (1 ms by default) for a while, so that
//! guest gives its thread back every millisecond and the other connections on the thread wait
//! about one fast tick rather than one slow one.

use crate::RuntimeError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::Engine;

/// How long the ticker stays fast after the last guest that computed through a tick: the fast
/// ticks counted, 100 ms at the default 1 ms.
const FAST_TICKS_AFTER_SIGNAL: u32 = 100;

/// The two tick lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TickPace {
    /// While a guest computes: the longest a computing guest holds its thread.
    pub fast: Duration,
    /// Otherwise.
    pub slow: Duration,
}

/// What the guests tell the ticker, shared by the ticker and every store's deadline callback.
#[derive(Debug, Default)]
pub(crate) struct EpochSignal {
    computing: AtomicBool,
    ticks: AtomicU64,
}

impl EpochSignal {
    /// A guest has run through a whole tick: tick fast for a while.
    pub(crate) fn computing(&self) {
        // A plain store would make every computing guest write the line at every tick.
        if !self.computing.load(Relaxed) {
            self.computing.store(true, Relaxed);
        }
    }

    /// The epochs advanced so far.
    #[cfg(test)]
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Relaxed)
    }
}

/// The ticker's choice of the next tick length, from whether a guest signalled since the last.
#[derive(Debug)]
struct Pacer {
    pace: TickPace,
    fast_left: u32,
}

impl Pacer {
    fn next(&mut self, signalled: bool) -> Duration {
        if signalled {
            self.fast_left = FAST_TICKS_AFTER_SIGNAL;
        }
        if self.fast_left > 0 {
            self.fast_left -= 1;
            self.pace.fast
        } else {
            self.pace.slow
        }
    }
}

/// The ticker thread; stops when dropped.
pub(crate) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(
        engine: Engine,
        pace: TickPace,
        signal: Arc<EpochSignal>,
    ) -> Result<Ticker, RuntimeError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let mut pacer = Pacer { pace, fast_left: 0 };
        let thread = std::thread::Builder::new()
            .name("wasmpod-epoch".into())
            .spawn(move || {
                let mut tick = pace.slow;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                    signal.ticks.fetch_add(1, Relaxed);
                    tick = pacer.next(signal.computing.swap(false, Relaxed));
                }
            })
            .map_err(|e| RuntimeError::InvalidConfig(format!("starting the epoch thread: {e}")))?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACE: TickPace = TickPace {
        fast: Duration::from_millis(1),
        slow: Duration::from_millis(10),
    };

    #[test]
    fn the_pacer_is_slow_until_a_guest_signals_and_fast_for_a_while_after() {
        let mut pacer = Pacer {
            pace: PACE,
            fast_left: 0,
        };
        assert_eq!(pacer.next(false), PACE.slow);
        assert_eq!(pacer.next(true), PACE.fast);
        for _ in 1..FAST_TICKS_AFTER_SIGNAL {
            assert_eq!(pacer.next(false), PACE.fast);
        }
        assert_eq!(pacer.next(false), PACE.slow);
        assert_eq!(pacer.next(true), PACE.fast, "a new signal starts it again");
    }

    /// Ticks counted over `window`, with a guest signalling every millisecond when `signalling`.
    fn ticks_over(window: Duration, signalling: bool) -> u64 {
        let mut config = wasmtime::Config::new();
        config.gc_support(false);
        let engine = Engine::new(&config).expect("engine");
        let signal = Arc::new(EpochSignal::default());
        let pace = TickPace {
            fast: Duration::from_millis(1),
            slow: Duration::from_millis(50),
        };
        let _ticker = Ticker::start(engine, pace, signal.clone()).expect("ticker");
        let start = std::time::Instant::now();
        while start.elapsed() < window {
            if signalling {
                signal.computing();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        signal.ticks()
    }

    #[test]
    fn the_ticker_ticks_slowly_alone_and_fast_while_guests_compute() {
        let window = Duration::from_millis(300);
        let idle = ticks_over(window, false);
        assert!(idle <= 7, "{idle} ticks in 300 ms at a 50 ms pace");
        let busy = ticks_over(window, true);
        // At most 7 slow ticks; the first signal is seen at the first of them, then 1 ms ticks
        // (a loaded machine oversleeps, so well under the 250 possible).
        assert!(busy >= 40, "{busy} ticks in 300 ms while a guest computes");
    }
}
