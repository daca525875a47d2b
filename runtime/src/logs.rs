//! Per-pod logs: a bounded ring buffer of what the guest wrote to stdout and stderr, plus lines the
//! runtime adds (traps, denied requests). Writing never blocks and never fails: when full, the
//! oldest bytes go. The buffer spans the pod's runs on a node; each new run keeps a copy of the
//! run before it (`logs --previous`), and followers ([`LogFollower`]) are woken by every write
//! until the buffer is closed (the pod left the node).

use bytes::Bytes;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use tokio::sync::watch;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Default capacity of a pod's log buffer: 1 MiB.
pub const DEFAULT_LOG_CAPACITY: usize = 1024 * 1024;

/// Most bytes one guest write may hand over at once (the guest splits larger writes).
const WRITE_BUDGET: usize = 64 * 1024;

/// A pod's log buffer. Cheap to clone; clones share the buffer.
#[derive(Clone)]
pub struct PodLogs {
    inner: Arc<Mutex<Ring>>,
    /// Bumped (to the bytes written so far) by every write and by `close`: wakes followers.
    written: Arc<watch::Sender<u64>>,
}

struct Ring {
    buf: VecDeque<u8>,
    capacity: usize,
    dropped: u64,
    /// Bytes ever written: the offset just past the buffer's last byte.
    written: u64,
    /// Where the current run began (an offset like `written`), and how many runs began.
    run_start: u64,
    runs: u64,
    /// What the run before the current one wrote (as far as the buffer still held it).
    previous: Option<Vec<u8>>,
    /// The pod left the node: followers end once they have read everything.
    closed: bool,
}

impl PodLogs {
    /// A buffer that keeps the newest `capacity` bytes (at least 1).
    pub fn new(capacity: usize) -> PodLogs {
        let capacity = capacity.max(1);
        PodLogs {
            inner: Arc::new(Mutex::new(Ring {
                buf: VecDeque::new(),
                capacity,
                dropped: 0,
                written: 0,
                run_start: 0,
                runs: 0,
                previous: None,
                closed: false,
            })),
            written: Arc::new(watch::channel(0).0),
        }
    }

    /// A run of the pod begins. From the second one on, the run that ended is kept as the
    /// previous run and the new one starts empty (the buffer keeps both, within its capacity).
    pub fn begin_run(&self) {
        let mut ring = self.lock();
        ring.runs += 1;
        // The first run keeps what was logged before it began (a failed pull, say).
        if ring.runs > 1 {
            let from = ring.run_start;
            ring.previous = Some(ring.bytes_from(from));
            ring.run_start = ring.written;
        }
    }

    /// What the previous run wrote, if the pod has run more than once here.
    pub fn previous(&self) -> Option<String> {
        let ring = self.lock();
        ring.previous
            .as_deref()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    /// A reader of everything buffered now and everything written later, until [`Self::close`].
    pub fn follow(&self) -> LogFollower {
        LogFollower {
            logs: self.clone(),
            changes: self.written.subscribe(),
            offset: 0,
        }
    }

    /// The pod is gone from this node: followers end after the last bytes.
    pub fn close(&self) {
        self.lock().closed = true;
        self.written.send_modify(|_| {});
    }

    /// Everything currently buffered, lossily decoded as UTF-8.
    pub fn snapshot(&self) -> String {
        let ring = self.lock();
        let (a, b) = ring.buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Appends a runtime-side message as its own line, prefixed `[wasmpod] `.
    pub fn append_line(&self, line: &str) {
        let mut ring = self.lock();
        if ring.buf.back().is_some_and(|&b| b != b'\n') {
            ring.push(b"\n");
        }
        ring.push(b"[wasmpod] ");
        ring.push(line.trim_end_matches('\n').as_bytes());
        ring.push(b"\n");
        let written = ring.written;
        drop(ring);
        self.written.send_replace(written);
    }

    /// Appends raw bytes (guest output).
    pub fn write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let written = {
            let mut ring = self.lock();
            ring.push(bytes);
            ring.written
        };
        self.written.send_replace(written);
    }

    /// How many bytes were dropped so far to stay within capacity.
    pub fn dropped_bytes(&self) -> u64 {
        self.lock().dropped
    }

    /// The buffer's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads a pod's log as it grows: what is buffered first, then each write as it comes.
pub struct LogFollower {
    logs: PodLogs,
    changes: watch::Receiver<u64>,
    /// The next byte to hand out (an offset like `Ring::written`).
    offset: u64,
}

impl LogFollower {
    /// The bytes written since the last call (waiting for some), or `None` once the log is
    /// closed and read to its end. Bytes the buffer dropped before they were read are skipped.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            self.changes.borrow_and_update();
            {
                let ring = self.logs.lock();
                if self.offset < ring.written {
                    let bytes = ring.bytes_from(self.offset);
                    self.offset = ring.written;
                    if !bytes.is_empty() {
                        return Some(Bytes::from(bytes));
                    }
                }
                if ring.closed {
                    return None;
                }
            }
            if self.changes.changed().await.is_err() {
                return None;
            }
        }
    }
}

impl Default for PodLogs {
    fn default() -> Self {
        PodLogs::new(DEFAULT_LOG_CAPACITY)
    }
}

impl std::fmt::Debug for PodLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.lock();
        f.debug_struct("PodLogs")
            .field("len", &ring.buf.len())
            .field("capacity", &ring.capacity)
            .finish()
    }
}

impl Ring {
    fn push(&mut self, bytes: &[u8]) {
        // Only the newest `capacity` bytes of a huge write can survive anyway.
        self.written += bytes.len() as u64;
        let bytes = &bytes[bytes.len().saturating_sub(self.capacity)..];
        let overflow = (self.buf.len() + bytes.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            self.buf.drain(..overflow);
            self.dropped += overflow as u64;
            // Keep the buffer starting at a line boundary when one is in reach.
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                if nl + 1 < self.buf.len() {
                    self.buf.drain(..=nl);
                    self.dropped += nl as u64 + 1;
                }
            }
        }
        self.buf.extend(bytes);
    }

    /// The buffered bytes from offset `from` on (from the oldest kept byte if it was dropped).
    fn bytes_from(&self, from: u64) -> Vec<u8> {
        let start = self.written - self.buf.len() as u64;
        let skip = from.saturating_sub(start).min(self.buf.len() as u64) as usize;
        self.buf.range(skip..).copied().collect()
    }
}

/// The stream handed to a guest as its stdout or stderr.
struct LogStream(PodLogs);

impl IsTerminal for PodLogs {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PodLogs {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LogStream(self.clone()))
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LogStream(self.clone()))
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.0.write(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.write(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_below_capacity() {
        let logs = PodLogs::new(64);
        logs.write(b"one\n");
        logs.write(b"two\n");
        assert_eq!(logs.snapshot(), "one\ntwo\n");
        assert_eq!(logs.dropped_bytes(), 0);
    }

    #[test]
    fn drops_oldest_lines_when_full() {
        let logs = PodLogs::new(16);
        for i in 0..10 {
            logs.write(format!("line {i}\n").as_bytes());
        }
        let snap = logs.snapshot();
        assert!(snap.len() <= 16, "{snap:?}");
        assert!(snap.ends_with("line 9\n"), "{snap:?}");
        assert!(
            snap.starts_with("line "),
            "cut at a line boundary: {snap:?}"
        );
        assert!(logs.dropped_bytes() > 0);
    }

    #[test]
    fn a_huge_write_keeps_its_tail() {
        let logs = PodLogs::new(8);
        logs.write(b"0123456789abcdef");
        assert_eq!(logs.snapshot(), "89abcdef");
    }

    #[test]
    fn runtime_lines_start_on_their_own_line() {
        let logs = PodLogs::new(1024);
        logs.write(b"partial");
        logs.append_line("component trapped: boom");
        assert_eq!(
            logs.snapshot(),
            "partial\n[wasmpod] component trapped: boom\n"
        );
    }

    #[test]
    fn a_new_run_keeps_the_one_before_as_previous() {
        let logs = PodLogs::new(1024);
        logs.append_line("pulling");
        logs.begin_run();
        assert_eq!(logs.previous(), None, "the first run has no previous one");
        logs.write(b"run 1\n");
        logs.begin_run();
        logs.write(b"run 2\n");
        assert_eq!(
            logs.previous().as_deref(),
            Some("[wasmpod] pulling\nrun 1\n")
        );
        logs.begin_run();
        assert_eq!(logs.previous().as_deref(), Some("run 2\n"));
        assert!(
            logs.snapshot().contains("run 1\nrun 2\n"),
            "runs stay in the log"
        );
    }

    #[test]
    fn previous_run_is_bounded_by_what_the_buffer_kept() {
        let logs = PodLogs::new(8);
        logs.begin_run();
        logs.write(b"0123456789abcdef");
        logs.begin_run();
        assert_eq!(logs.previous().as_deref(), Some("89abcdef"));
    }

    #[tokio::test]
    async fn followers_read_the_buffer_then_each_write_until_closed() {
        let logs = PodLogs::new(1024);
        logs.write(b"before\n");
        let mut follower = logs.follow();
        assert_eq!(follower.next().await.as_deref(), Some(&b"before\n"[..]));
        let writer = logs.clone();
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            writer.write(b"after\n");
            writer.close();
        });
        assert_eq!(follower.next().await.as_deref(), Some(&b"after\n"[..]));
        assert_eq!(follower.next().await, None, "ends when closed");
        task.await.expect("writer");
    }

    #[tokio::test]
    async fn a_slow_follower_skips_what_was_dropped() {
        let logs = PodLogs::new(8);
        let mut follower = logs.follow();
        logs.write(b"0123456789abcdef");
        assert_eq!(follower.next().await.as_deref(), Some(&b"89abcdef"[..]));
    }

    #[test]
    fn guest_stream_never_fails_when_full() {
        let logs = PodLogs::new(32);
        let mut stream = logs.p2_stream();
        for _ in 0..1000 {
            let budget = stream.check_write().expect("always writable");
            assert!(budget > 0);
            stream
                .write(Bytes::from_static(b"spam spam spam\n"))
                .expect("never traps");
        }
        assert!(logs.snapshot().len() <= 32);
    }
}
