//! Serving one accepted connection (HTTP/1.1, or HTTP/2 by prior knowledge or ALPN, optionally
//! over TLS) with timeouts, for every listener of a node (the gateway and the node agent), so
//! idle or slow clients cannot hold connections forever:
//!
//! - **header-read timeout** (hyper's `header_read_timeout`): a request head must arrive
//!   completely within it, counted from when the connection waits for a request (so a client
//!   trickling header bytes is cut off too);
//! - **idle timeout**: a connection with no request in flight and no byte read or written for it
//!   is closed (checked every half period, so it closes between 1 and 1.5 times the timeout).
//!
//! Both close the connection (EOF for the client); a request in flight is never cut by them.
//!
//! On a TLS listener that asks for client certificates (the gateway's peer listener and the node
//! agent of a TLS cluster), the certificate the handshake verified rides in each request's
//! extensions as a [`PeerCertificate`], with its serial number read once per connection.
//!
//! - **request head size**: a request head (request line and headers) larger than
//!   [`MAX_REQUEST_HEAD`] is answered `431 Request Header Fields Too Large` (HTTP/1.1, hyper's
//!   `max_header_size` on the parsed head and `max_buf_size` on the read buffer) or refused as a
//!   stream error (HTTP/2, `max_header_list_size`), before any routing, so no guest ever sees it.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use wasmpod_api::revocation::{CertificateSerial, SerialError};

/// The largest request head a node reads (request line and headers together), as nginx's
/// `large_client_header_buffers` (4 x 8 KiB) and a little more: 64 KiB.
pub const MAX_REQUEST_HEAD: usize = 64 << 10;

/// The timeouts of every connection a node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// A request head must be complete within this, from when the connection is ready for it.
    pub header_read: Duration,
    /// A connection quiet (no request in flight, no bytes) for this long is closed.
    pub idle: Duration,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        ConnectionTimeouts {
            header_read: Duration::from_secs(30),
            idle: Duration::from_secs(15),
        }
    }
}

/// Why a [`ConnectionTimeouts`] is unusable.
#[derive(Debug, thiserror::Error)]
#[error("connection timeouts must be above zero (header read {header_read:?}, idle {idle:?})")]
pub struct InvalidTimeouts {
    header_read: Duration,
    idle: Duration,
}

impl ConnectionTimeouts {
    pub fn try_new(header_read: Duration, idle: Duration) -> Result<Self, InvalidTimeouts> {
        if header_read.is_zero() || idle.is_zero() {
            return Err(InvalidTimeouts { header_read, idle });
        }
        Ok(ConnectionTimeouts { header_read, idle })
    }
}

/// What the idle watchdog of one connection observes: bytes moved and requests in flight.
#[derive(Default)]
pub struct Activity {
    io: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    /// Marks a request in flight until the returned guard is dropped (keep it in the response
    /// body with [`Tracked`], so a streaming response counts until its end).
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight on a connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
        // The end of a response is activity: the idle period starts now.
        self.0.io.fetch_add(1, Relaxed);
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
pub struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Tracked {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, counting reads and writes for the idle watchdog.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.io.fetch_add(1, Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io.fetch_add(1, Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io.fetch_add(1, Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts connections on `listener` until `shutdown` and serves each on its own task under
/// `timeouts`, with the service `make_service` builds for it from the connection's [`Activity`]
/// (the service must mark its requests in flight with it). `what` names the listener in logs.
pub async fn accept_loop<S, B, F>(
    what: &'static str,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    timeouts: ConnectionTimeouts,
    shutdown: tokio_util::sync::CancellationToken,
    make_service: F,
) where
    F: Fn(Arc<Activity>) -> S,
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: back off instead of spinning on the error.
                    tracing::debug!(listener = what, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(listener = what, %error, "cannot set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::default());
        let service = make_service(activity.clone());
        tokio::spawn(serve(stream, tls.clone(), activity, timeouts, service));
    }
}

/// The protocol a connection speaks: by its first bytes (plain) or by ALPN (TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    /// HTTP/2 by prior knowledge (`h2c`): the connection starts with the HTTP/2 preface.
    Http2,
    /// The bytes so far begin the preface, which came in pieces, or a TLS client chose no protocol
    /// by ALPN: hyper-util's `auto` connection reads on until it knows.
    Undecided,
}

/// What an HTTP/2 client sends first (RFC 9113, 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Peeks at the first bytes of `stream` (they stay to be read) once some have come. A client that
/// closes first is left to HTTP/1.1 to see the end.
async fn sniff(stream: &TcpStream) -> std::io::Result<Protocol> {
    let mut first = [0u8; HTTP2_PREFACE.len()];
    let n = stream.peek(&mut first).await?;
    Ok(if n == HTTP2_PREFACE.len() && first == *HTTP2_PREFACE {
        Protocol::Http2
    } else if n == 0 || first[..n] != HTTP2_PREFACE[..n] {
        Protocol::Http1
    } else {
        Protocol::Undecided
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sets a node's HTTP/1.1 limits on hyper's builder (or hyper-util's `auto` one, which has the
/// same methods).
macro_rules! http1_limits {
    ($builder:expr, $timeouts:expr) => {
        $builder
            .timer(TokioTimer::new())
            .header_read_timeout($timeouts.header_read)
            .max_buf_size(MAX_REQUEST_HEAD)
    };
}

/// Sets a node's HTTP/2 limits, as `http1_limits` does for HTTP/1.1.
macro_rules! http2_limits {
    ($builder:expr) => {
        $builder
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_REQUEST_HEAD as u32)
    };
}

/// Serves `stream` with `service` until the client closes, an error, or a timeout: HTTP/1.1, or
/// HTTP/2 when the client starts with its preface (prior knowledge, `h2c`, or after ALPN chose
/// `h2` on TLS). With `tls` the connection is TLS first; the handshake must finish within the
/// header-read timeout. `activity` must be the one the service marks its requests in flight with.
pub async fn serve<S, B>(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    activity: Arc<Activity>,
    timeouts: ConnectionTimeouts,
    service: S,
) where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let watched = Watched {
        stream,
        activity: activity.clone(),
    };
    match tls {
        None => {
            let service = WithPeer {
                inner: service,
                peer: None,
            };
            // Plain connections pick their protocol from their first bytes here, then run hyper's
            // HTTP/1.1 or HTTP/2 connection directly: hyper-util's `auto` connection would sniff
            // the same bytes but stays a layer around every read and poll of the connection.
            let connection = async move {
                let protocol = sniff(&watched.stream).await?;
                serve_as(watched, protocol, timeouts, service).await
            };
            watch(connection, activity, timeouts).await
        }
        Some(acceptor) => {
            match tokio::time::timeout(timeouts.header_read, acceptor.accept(watched)).await {
                Ok(Ok(tls)) => {
                    // Verified by the handshake when the acceptor asks for client certificates;
                    // its serial is read here, once for every request of the connection.
                    let leaf = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first());
                    let peer = match leaf.map(|leaf| PeerCertificate::read(leaf.clone())) {
                        None => None,
                        Some(Ok(peer)) => Some(peer),
                        Some(Err(error)) => {
                            // The handshake's verifier parsed it: this does not happen.
                            tracing::info!(%error, "closed a connection whose client certificate \
                                has no readable serial");
                            return;
                        }
                    };
                    let service = WithPeer {
                        inner: service,
                        peer,
                    };
                    let protocol = match tls.get_ref().1.alpn_protocol() {
                        Some(b"h2") => Protocol::Http2,
                        Some(_) => Protocol::Http1,
                        None => Protocol::Undecided,
                    };
                    watch(
                        serve_as(tls, protocol, timeouts, service),
                        activity,
                        timeouts,
                    )
                    .await
                }
                Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                Err(_) => {
                    tracing::debug!(timeout = ?timeouts.header_read, "TLS handshake timed out")
                }
            }
        }
    }
}

/// The client certificate a TLS connection presented (and the handshake verified against the
/// cluster CA) and its serial number, read once for the connection; in the extensions of each of
/// its requests (a clone is a reference count), so a request's revocation check is a lookup, and
/// so is its check of the node the certificate names after the connection's first request.
#[derive(Debug, Clone)]
pub struct PeerCertificate(Arc<Peer>);

#[derive(Debug)]
struct Peer {
    der: CertificateDer<'static>,
    serial: CertificateSerial,
    /// The first node name this connection's requests claimed, and whether the certificate is
    /// that node's (a peer's connection claims one name for its life).
    node: std::sync::OnceLock<(Box<str>, bool)>,
}

impl PeerCertificate {
    /// Reads the serial number of `der` (a certificate the handshake verified).
    pub fn read(der: CertificateDer<'_>) -> Result<PeerCertificate, SerialError> {
        let serial = CertificateSerial::of(&der)?;
        Ok(PeerCertificate(Arc::new(Peer {
            der: der.into_owned(),
            serial,
            node: std::sync::OnceLock::new(),
        })))
    }

    /// Whether this is the certificate of node `node`, parsed once per connection for the name
    /// its requests claim.
    pub fn is_node(&self, node: &str) -> bool {
        let (checked, answer) = self.0.node.get_or_init(|| {
            let answer = wasmpod_api::node_tls::is_node_certificate(&self.0.der, node);
            (node.into(), answer)
        });
        if **checked == *node {
            *answer
        } else {
            wasmpod_api::node_tls::is_node_certificate(&self.0.der, node)
        }
    }

    pub fn der(&self) -> &CertificateDer<'static> {
        &self.0.der
    }

    pub fn serial(&self) -> &CertificateSerial {
        &self.0.serial
    }
}

/// A service that puts the connection's [`PeerCertificate`] (if any) in each request.
struct WithPeer<S> {
    inner: S,
    peer: Option<PeerCertificate>,
}

impl<S, B> hyper::service::Service<http::Request<hyper::body::Incoming>> for WithPeer<S>
where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut req: http::Request<hyper::body::Incoming>) -> Self::Future {
        // Extensions never come from the wire: a client cannot bring its own.
        if let Some(peer) = &self.peer {
            req.extensions_mut().insert(peer.clone());
        }
        self.inner.call(req)
    }
}

/// Serves `io` in `protocol`: hyper's HTTP/1.1 or HTTP/2 connection, or hyper-util's `auto` one
/// when the first bytes did not tell (it reads on until they do).
async fn serve_as<I, S, B>(
    io: I,
    protocol: Protocol,
    timeouts: ConnectionTimeouts,
    service: S,
) -> Result<(), BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let io = TokioIo::new(io);
    match protocol {
        Protocol::Http1 => {
            let mut builder = http1::Builder::new();
            // `max_buf_size` bounds the buffer, but a head that arrives whole in one read can
            // pass it; `max_header_size` checks the parsed head itself.
            http1_limits!(builder, timeouts).max_header_size(MAX_REQUEST_HEAD);
            builder.serve_connection(io, service).await?;
        }
        Protocol::Http2 => {
            let mut builder = http2::Builder::new(TokioExecutor::new());
            http2_limits!(builder);
            builder.serve_connection(io, service).await?;
        }
        Protocol::Undecided => {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            http1_limits!(builder.http1(), timeouts);
            http2_limits!(builder.http2());
            builder.serve_connection(io, service).await?;
        }
    }
    Ok(())
}

/// Runs `connection` until it ends, closing it once no request has been in flight and no byte
/// moved for `timeouts.idle`.
async fn watch<C, E>(connection: C, activity: Arc<Activity>, timeouts: ConnectionTimeouts)
where
    C: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    let period = timeouts.idle / 2;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = activity.io.load(Relaxed);
    let mut quiet = 0u32;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = ticks.tick() => {
                let now = activity.io.load(Relaxed);
                if now != seen || activity.in_flight.load(Relaxed) > 0 {
                    seen = now;
                    quiet = 0;
                    continue;
                }
                quiet += 1;
                if quiet >= 2 {
                    tracing::debug!(idle = ?timeouts.idle, "idle connection closed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn server(timeouts: ConnectionTimeouts) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let activity = Arc::new(Activity::default());
                let service = {
                    let activity = activity.clone();
                    hyper::service::service_fn(move |_req| {
                        let in_flight = activity.enter();
                        async move {
                            let body = http_body_util::Full::new(Bytes::from_static(b"ok"));
                            Ok::<_, std::convert::Infallible>(http::Response::new(Tracked::new(
                                body, in_flight,
                            )))
                        }
                    })
                };
                tokio::spawn(serve(stream, None, activity, timeouts, service));
            }
        });
        addr
    }

    /// Reads until EOF or error; `Some(bytes read)` if the server closed within `within`.
    async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<usize> {
        let mut total = 0;
        let mut buf = [0u8; 1024];
        tokio::time::timeout(within, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        })
        .await
        .ok()
    }

    #[tokio::test]
    async fn idle_and_half_sent_connections_are_closed_and_busy_ones_are_not() {
        let timeouts =
            ConnectionTimeouts::try_new(Duration::from_millis(900), Duration::from_millis(300))
                .expect("valid");
        let addr = server(timeouts).await;
        let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let mut used = tokio::net::TcpStream::connect(addr).await.expect("connect");
        used.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 256];
        let n = used.read(&mut buf).await.expect("response");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // A trickling client keeps the idle watchdog quiet, not the header-read timeout.
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let trickle = tokio::spawn(async move {
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz" {
                if slow.write_all(&[*byte]).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        });
        for stream in [&mut idle, &mut half, &mut used] {
            assert_eq!(
                closed_within(stream, Duration::from_secs(3)).await,
                Some(0),
                "closed without a response"
            );
        }
        assert!(
            tokio::time::timeout(Duration::from_secs(5), trickle)
                .await
                .expect("trickle ends")
                .expect("task"),
            "the trickling client was cut off by the header-read timeout"
        );
    }

    /// Sends an HTTP/2 GET over `io` with hyper's client and returns the status.
    async fn h2_get<I>(io: I) -> u16
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("h2 handshake");
        tokio::spawn(connection);
        let request = http::Request::get("http://node.test/")
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("h2 response");
        assert_eq!(response.version(), http::Version::HTTP_2);
        response.status().as_u16()
    }

    /// A client stream that leaves out the first `skip` bytes the client writes (the test sent
    /// them itself, ahead).
    struct SkipFirst {
        stream: TcpStream,
        skip: usize,
    }

    impl AsyncRead for SkipFirst {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.stream).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for SkipFirst {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.skip > 0 {
                let skipped = self.skip.min(buf.len());
                self.skip -= skipped;
                return Poll::Ready(Ok(skipped));
            }
            Pin::new(&mut self.stream).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.stream).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.stream).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn a_plain_connection_speaks_http1_or_http2_by_its_first_bytes() {
        let addr = server(ConnectionTimeouts::default()).await;
        let mut http1 = tokio::net::TcpStream::connect(addr).await.expect("connect");
        http1
            .write_all(b"GET / HTTP/1.1\r\nhost: node.test\r\n\r\n")
            .await
            .expect("write");
        let mut head = [0u8; 12];
        http1.read_exact(&mut head).await.expect("read");
        assert_eq!(&head, b"HTTP/1.1 200");

        let h2c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        assert_eq!(h2_get(h2c).await, 200, "HTTP/2 with prior knowledge");

        // The preface in two pieces, the second after a pause: the first peek sees only a part.
        let mut split = tokio::net::TcpStream::connect(addr).await.expect("connect");
        split.write_all(&HTTP2_PREFACE[..10]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let split = SkipFirst {
            stream: split,
            skip: 10,
        };
        assert_eq!(h2_get(split).await, 200, "a preface that came in pieces");
    }

    #[test]
    fn zero_timeouts_are_refused() {
        assert!(ConnectionTimeouts::try_new(Duration::ZERO, Duration::from_secs(1)).is_err());
        assert!(ConnectionTimeouts::try_new(Duration::from_secs(1), Duration::ZERO).is_err());
    }
}
