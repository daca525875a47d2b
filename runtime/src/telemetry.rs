//! The OpenTelemetry spans of a request, as `tracing` spans under one target, [`TARGET`]: the
//! process exports the spans of that target when it runs with `--otlp-endpoint` (the binary
//! installs the exporting layer) and nothing else. Without it every span here is disabled:
//! `tracing` hands back `Span::none()` without evaluating its fields, and the helpers below return
//! at their first check, so the request path costs what it did (no allocation).
//!
//! Spans: `ingress` and `routing` (the worker's gateway), `forward` (the hop to another node's
//! gateway), `instantiate` and `execute` (here, around the guest), `outbound` (each outgoing call
//! a guest makes). A W3C `traceparent` links them across processes: the ingress span is the child
//! of the span named by the request's `traceparent`, and a call leaving this process carries the
//! `traceparent` of the span that sends it.

use http::HeaderValue;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use wasmpod_api::trace::TraceParent;

/// The `tracing` target of every exported span.
pub const TARGET: &str = "wasmpod_trace";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Told by the binary once it exports the spans of [`TARGET`].
pub fn set_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

/// Whether this process exports spans: the request path checks it before any work for a span.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Makes `span` the child of the remote span `parent` names (a `traceparent` from another
/// process). Call it before the span is entered. Nothing happens for a disabled span.
pub fn set_remote_parent(span: &tracing::Span, parent: &TraceParent) {
    if span.is_disabled() {
        return;
    }
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(parent.trace_id()),
        SpanId::from_hex(parent.span_id()),
    ) else {
        return;
    };
    let flags = TraceFlags::new(parent.flags());
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    if let Err(error) = span.set_parent(Context::new().with_remote_span_context(remote)) {
        tracing::debug!(%error, "cannot set a span's remote parent");
    }
}

/// The `traceparent` naming `span` as the parent of a call it makes, when the span is exported;
/// `None` when it is not (no `--otlp-endpoint`, or filtered out).
pub fn traceparent_of(span: &tracing::Span) -> Option<HeaderValue> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_ref = context.span();
    let own = span_ref.span_context();
    if !own.is_valid() {
        return None;
    }
    let text = format!(
        "00-{}-{}-{:02x}",
        own.trace_id(),
        own.span_id(),
        own.trace_flags().to_u8()
    );
    HeaderValue::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::KeptSpans;

    const SENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn without_the_exporting_layer_nothing_is_linked_or_injected() {
        let span = tracing::info_span!(target: TARGET, "ingress");
        let parent = TraceParent::parse(&HeaderValue::from_static(SENT)).expect("valid");
        set_remote_parent(&span, &parent);
        assert_eq!(traceparent_of(&span), None);
    }

    #[test]
    fn a_span_continues_the_remote_trace_and_names_itself_in_the_traceparent_it_sends() {
        let (sent, spans) = KeptSpans::of(|| {
            let span = tracing::info_span!(target: TARGET, "ingress");
            let parent = TraceParent::parse(&HeaderValue::from_static(SENT)).expect("valid");
            set_remote_parent(&span, &parent);
            let sent = traceparent_of(&span).expect("an exported span has a traceparent");
            drop(span);
            sent
        });
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.name, "ingress");
        assert_eq!(
            span.span_context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
        assert_eq!(
            sent.to_str().expect("ascii"),
            format!(
                "00-0af7651916cd43dd8448eb211c80319c-{}-01",
                span.span_context.span_id()
            )
        );
    }
}
