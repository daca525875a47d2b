//! The request body limit of an HTTP pod: the body is counted as it streams into the guest, never
//! buffered. Past the limit the guest's next read fails (`HttpRequestBodySize`) and the request
//! is answered 413.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::Error as HttpError;

pin_project_lite::pin_project! {
    /// A request body that fails once more than `limit` bytes have come through. It wraps the
    /// body as it is (no box of its own: wasmtime-wasi-http boxes the request body once).
    pub(crate) struct LimitedBody<B> {
        #[pin]
        inner: B,
        seen: u64,
        limit: u64,
        exceeded: Arc<AtomicBool>,
    }
}

impl<B> LimitedBody<B> {
    /// `exceeded` turns true when the limit is passed.
    pub(crate) fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        LimitedBody {
            inner,
            seen: 0,
            limit,
            exceeded,
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes, Error = HttpError>,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                *this.seen += data.len() as u64;
                if *this.seen > *this.limit {
                    this.exceeded.store(true, Ordering::SeqCst);
                    return Poll::Ready(Some(Err(HttpError::HttpRequestBodySize(Some(
                        *this.limit,
                    )))));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request's declared body length, when it has a valid `Content-Length`.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_body_past_the_limit_fails_and_says_so() {
        let chunks = (0..4).map(|_| Ok::<_, HttpError>(Frame::data(Bytes::from(vec![b'x'; 100]))));
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = LimitedBody::new(
            StreamBody::new(futures::stream::iter(chunks)),
            250,
            exceeded.clone(),
        );
        let error = body.collect().await.expect_err("over the limit");
        assert!(matches!(error, HttpError::HttpRequestBodySize(Some(250))));
        assert!(exceeded.load(Ordering::SeqCst));

        let chunks = (0..2).map(|_| Ok::<_, HttpError>(Frame::data(Bytes::from(vec![b'x'; 100]))));
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = LimitedBody::new(
            StreamBody::new(futures::stream::iter(chunks)),
            250,
            exceeded.clone(),
        );
        assert_eq!(body.collect().await.expect("within").to_bytes().len(), 200);
        assert!(!exceeded.load(Ordering::SeqCst));
    }
}
