//! Helpers for the tests of this crate and of the crates above it, behind the `test-support`
//! feature (the worker's tests turn it on through a dev-dependency); never in the binary.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// A span exporter that keeps what it is given.
#[derive(Debug, Clone, Default)]
pub struct KeptSpans(Arc<Mutex<Vec<SpanData>>>);

impl KeptSpans {
    /// Runs `f` with every `tracing` span of this thread exported to a new [`KeptSpans`] (as the
    /// binary's OTLP layer would), and returns what `f` returned and the spans that ended in it.
    pub fn of<T>(f: impl FnOnce() -> T) -> (T, Vec<SpanData>) {
        let kept = KeptSpans::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(kept.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let returned = tracing::subscriber::with_default(subscriber, f);
        (returned, kept.spans())
    }

    /// The spans exported so far, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl SpanExporter for KeptSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(batch);
        Ok(())
    }
}
