//! HTTP pods: a fresh store and instance per request from the pre-instantiated template (the
//! `wasmtime serve` model), or, when the pod opts in, an instance reused for several requests
//! (see `reuse.rs`). A guest failure answers `500` with a short plain-text body and a line in the
//! pod logs; it never affects other requests (and drops a reused instance).

use crate::admission::PodAdmission;
use crate::body_limit::{self, LimitedBody};
use crate::error::BoxError;
use crate::failure;
use crate::limits;
use crate::outbound::BoxBody;
use crate::reuse::{Instance, Reuse};
use crate::state::{PodState, PodTemplate};
use crate::telemetry::TARGET;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tracing::Instrument;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{Error as HttpError, WasiHttpView};

/// The body of a pod's response: streams from the guest while its instance runs on.
pub type ResponseBody = BoxBody;

/// A running HTTP pod. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct HttpPod {
    inner: Arc<Inner>,
}

struct Inner {
    pre: ProxyPre<PodState>,
    template: PodTemplate,
    /// Idle instances, when the pod reuses them.
    reuse: Option<Arc<Reuse>>,
    /// Its concurrency limit and its place in the node's pool.
    admission: Arc<PodAdmission>,
    /// Instances created so far.
    instances: AtomicU64,
    /// The runtime's instantiation-time histogram.
    instantiate: wasmpod_api::metrics::Histogram,
}

impl HttpPod {
    pub(crate) fn new(
        pre: ProxyPre<PodState>,
        template: PodTemplate,
        admission: Arc<PodAdmission>,
        instantiate: wasmpod_api::metrics::Histogram,
    ) -> HttpPod {
        let reuse = Reuse::new(template.max_requests_per_instance);
        HttpPod {
            inner: Arc::new(Inner {
                pre,
                template,
                reuse,
                admission,
                instances: AtomicU64::new(0),
                instantiate,
            }),
        }
    }

    /// How many instances this pod has created: one per request, unless it reuses instances.
    pub fn instances_created(&self) -> u64 {
        self.inner.instances.load(Ordering::Relaxed)
    }

    /// Idle instances kept for reuse right now.
    #[cfg(test)]
    pub(crate) fn idle_instances(&self) -> usize {
        self.inner.reuse.as_ref().map_or(0, |reuse| reuse.idle())
    }

    /// Instances this pod may run at once right now (its `containerConcurrency`, or its fair
    /// share of the node's pool).
    pub fn concurrency_limit(&self) -> u32 {
        self.inner.admission.limit()
    }

    /// Instances of this pod holding a slot of the pool now: serving a request, or idle and kept
    /// for reuse.
    pub fn instances_in_use(&self) -> u32 {
        self.inner.admission.in_use()
    }

    /// Linear memory of this pod's live instances (idle reused ones included), in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.inner.template.memory_in_use.load(Ordering::Relaxed)
    }

    /// Requests this pod is serving now: the instances it holds, less the idle ones kept for
    /// reuse.
    pub fn in_flight(&self) -> u32 {
        let idle = self.inner.reuse.as_ref().map_or(0, |reuse| reuse.idle());
        self.inner
            .admission
            .in_use()
            .saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX))
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.inner.template.name
    }

    /// The pod's log buffer.
    pub fn logs(&self) -> &crate::PodLogs {
        &self.inner.template.logs
    }

    /// Serves one request with a fresh instance (or an idle one, when the pod reuses them).
    /// Instantiation and the guest's handler run in a task spawned on the current tokio runtime,
    /// bounded by the pod's request timeout (epoch deadline and wall clock). The guest's response
    /// is returned as soon as it sets it; its body streams while the task runs on.
    pub async fn handle<B>(&self, req: http::Request<B>) -> http::Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let inner = &self.inner;
        let timeout = inner.template.request_timeout;
        let body_limit = inner.template.max_request_body_bytes;
        if let Some(length) = body_limit::declared_length(req.headers()) {
            if length > body_limit {
                return too_large(&inner.template.name, body_limit);
            }
        }
        let idle = inner.reuse.as_ref().and_then(|reuse| reuse.take());
        let (mut store, reused, permit) = match idle {
            Some(Instance {
                mut store,
                proxy,
                served,
                permit,
            }) => {
                limits::set_deadline(&mut store, Some(timeout), &inner.template.epoch);
                (store, Some((proxy, served)), permit)
            }
            None => {
                let permit = match inner.admission.acquire().await {
                    Ok(permit) => permit,
                    Err(refused) => {
                        tracing::debug!(pod = %inner.template.name, %refused, "request shed");
                        return unavailable_response(&format!(
                            "pod {} is busy: {refused} (at most {} instances at once)",
                            inner.template.name,
                            inner.admission.limit()
                        ));
                    }
                };
                match inner.template.new_store(inner.pre.engine(), Some(timeout)) {
                    Ok(store) => (store, None, permit),
                    Err(e) => {
                        let msg = format!("cannot prepare the component's context: {e:#}");
                        inner.report(&msg);
                        return text_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
                    }
                }
            }
        };
        store.data_mut().set_inbound(
            req.headers().get(wasmpod_api::trace::TRACEPARENT).cloned(),
            crate::outbound::hops_of(req.headers()),
        );
        let exceeded = Arc::new(AtomicBool::new(false));
        let mut req = req
            .map(|body| LimitedBody::new(body.map_err(body_error), body_limit, exceeded.clone()));
        if req.uri().authority().is_none() && !req.headers().contains_key(header::HOST) {
            req.headers_mut()
                .insert(header::HOST, HeaderValue::from_static("localhost"));
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .and_then(|incoming| {
                Ok((
                    incoming,
                    store.data_mut().http().new_response_outparam(sender)?,
                ))
            });
        let (incoming, outparam) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::debug!(pod = %inner.template.name, error = %e, "unusable request");
                return text_response(StatusCode::BAD_REQUEST, "bad request");
            }
        };

        // Children of the caller's span (the gateway's routing); disabled unless exported.
        let instantiate_span = match reused {
            None => {
                tracing::info_span!(target: TARGET, "instantiate", wasmpod.pod = %inner.template.name)
            }
            Some(_) => tracing::Span::none(),
        };
        let execute_span = tracing::info_span!(
            target: TARGET,
            "execute",
            wasmpod.pod = %inner.template.name,
            wasmpod.instance_reused = reused.is_some(),
            otel.status_code = tracing::field::Empty,
            error.message = tracing::field::Empty,
        );
        let pod = self.inner.clone();
        let failed_span = execute_span.clone();
        let task = tokio::spawn(async move {
            let (proxy, served) = match reused {
                Some((proxy, served)) => (Some(proxy), served),
                None => (None, 0),
            };
            let run = async {
                let proxy = match proxy {
                    Some(proxy) => proxy,
                    None => {
                        pod.instances.fetch_add(1, Ordering::Relaxed);
                        let started = std::time::Instant::now();
                        let proxy = pod
                            .pre
                            .instantiate_async(&mut store)
                            .instrument(instantiate_span)
                            .await?;
                        pod.instantiate.observe(started.elapsed());
                        proxy
                    }
                };
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .instrument(execute_span)
                    .await?;
                wasmtime::Result::Ok(proxy)
            };
            let outcome = match tokio::time::timeout(timeout, run).await {
                Ok(Ok(proxy)) => {
                    if let Some(reuse) = &pod.reuse {
                        reuse.give_back(
                            Instance {
                                store,
                                proxy,
                                served: served + 1,
                                permit,
                            },
                            pod.admission.contended(),
                        );
                        return Ok(());
                    }
                    Ok(())
                }
                Ok(Err(e)) if pool_exhausted(&e) => {
                    // Admission should make this impossible; if a component's cost was
                    // underestimated, the request is shed like an overloaded one.
                    tracing::warn!(pod = %pod.template.name, error = %e, "instance pool exhausted");
                    Err(Failure::Overloaded)
                }
                Ok(Err(e)) => {
                    let msg = failure::describe(&e, Some(timeout));
                    tracing::debug!(pod = %pod.template.name, error = ?e, "guest failure");
                    pod.report(&msg);
                    record_failure(&failed_span, &msg);
                    Err(Failure::Guest(msg))
                }
                Err(_) => {
                    let msg = format!("component timed out: request exceeded {timeout:?}");
                    pod.report(&msg);
                    record_failure(&failed_span, &msg);
                    Err(Failure::Guest(msg))
                }
            };
            // The pool slot is free once the store is gone: only then may a waiter have it.
            drop(store);
            drop(permit);
            outcome
        });

        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                let msg = format!("component answered with error {code:?}");
                inner.report(&msg);
                text_response(status_for(&code), &msg)
            }
            Err(_) => match task.await {
                Ok(Err(Failure::Guest(msg))) => {
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, &msg)
                }
                Ok(Err(Failure::Overloaded)) => unavailable_response(&format!(
                    "pod {} is busy: the node's instance pool is full",
                    inner.template.name
                )),
                Ok(Ok(())) => {
                    let msg = "component returned without setting a response";
                    inner.report(msg);
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, msg)
                }
                Err(e) => {
                    let msg = format!("component task failed: {e}");
                    inner.report(&msg);
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, "component task failed")
                }
            },
        };
        // The guest answered after its body read failed on the limit (with an error of its
        // own, or a trap): the client learns the real reason.
        if exceeded.load(Ordering::SeqCst) {
            return too_large(&inner.template.name, body_limit);
        }
        response
    }
}

/// Marks the guest's execution span failed, with the one-line reason.
fn record_failure(span: &tracing::Span, msg: &str) {
    if !span.is_disabled() {
        span.record("otel.status_code", "ERROR");
        span.record("error.message", msg);
    }
}

/// 413 for a request body over the pod's limit.
fn too_large(pod: &str, limit: u64) -> http::Response<ResponseBody> {
    text_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "request body is over pod {pod}'s limit of {limit} bytes (spec.maxRequestBodyBytes)"
        ),
    )
}

/// Why a request's task ended without a response.
enum Failure {
    /// The guest trapped, timed out or failed; a line for the client and the logs.
    Guest(String),
    /// The pooling allocator had no slot.
    Overloaded,
}

fn pool_exhausted(err: &wasmtime::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    })
}

impl Inner {
    fn report(&self, msg: &str) {
        self.template.logs.append_line(msg);
        tracing::warn!(pod = %self.template.name, "{msg}");
    }
}

fn body_error(err: impl Into<BoxError>) -> HttpError {
    let err: BoxError = err.into();
    let err = match err.downcast::<HttpError>() {
        Ok(err) => return *err,
        Err(err) => err,
    };
    match err.downcast::<hyper::Error>() {
        Ok(err) => HttpError::Hyper(*err),
        Err(err) => HttpError::InternalError(Some(err.to_string())),
    }
}

/// A guest's `error-code` answer: upstream trouble is a bad gateway, upstream slowness a gateway
/// timeout, anything else the guest's own failure.
fn status_for(code: &ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::HttpResponseTimeout
        | E::DnsTimeout => StatusCode::GATEWAY_TIMEOUT,
        E::DnsError(_)
        | E::DestinationNotFound
        | E::DestinationUnavailable
        | E::DestinationIpProhibited
        | E::DestinationIpUnroutable
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionLimitReached
        | E::TlsProtocolError
        | E::TlsCertificateError
        | E::TlsAlertReceived(_)
        | E::HttpRequestDenied
        | E::HttpResponseIncomplete
        | E::HttpResponseHeaderSectionSize(_)
        | E::HttpResponseHeaderSize(_)
        | E::HttpResponseBodySize(_)
        | E::HttpResponseTrailerSectionSize(_)
        | E::HttpResponseTrailerSize(_)
        | E::HttpResponseTransferCoding(_)
        | E::HttpResponseContentCoding(_)
        | E::HttpUpgradeFailed
        | E::HttpProtocolError
        | E::LoopDetected => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A short plain-text response (also used by the worker for its own errors).
pub fn text_response(status: StatusCode, text: &str) -> http::Response<ResponseBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // Marks answers wasmpod made itself (trap, timeout, no endpoint), not the guest.
    response
        .headers_mut()
        .insert(WASMPOD_ERROR_HEADER, HeaderValue::from_static("1"));
    response
}

/// `503 Service Unavailable` with `Retry-After: 1`: the request may be sent again shortly (the
/// pod is busy, the gateway is starting, no replica is ready yet).
pub fn unavailable_response(text: &str) -> http::Response<ResponseBody> {
    let mut response = text_response(StatusCode::SERVICE_UNAVAILABLE, text);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Set on responses produced by wasmpod rather than the guest; the gateway retries those.
pub const WASMPOD_ERROR_HEADER: &str = "x-wasmpod-error";
