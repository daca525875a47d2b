//! What the process reports about itself: log lines to stderr (`RUST_LOG`, default `warn`) and,
//! with `--otlp-endpoint`, the spans of requests (`wasmpod_runtime::telemetry`) exported over
//! OTLP/HTTP (protobuf) to a collector. Spans leave through a batch processor on its own thread:
//! a request never waits on the export, and a full queue drops spans rather than slowing it.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use wasmpod_runtime::telemetry::TARGET;

/// The `--otlp-endpoint` flag of the commands that run a cluster (`up`, `server`, `worker`).
#[derive(Debug, Clone, clap::Args)]
pub struct OtlpArgs {
    /// Export OpenTelemetry spans of requests over OTLP/HTTP (protobuf) to this collector, e.g.
    /// http://collector:4318 (spans go to its /v1/traces); nothing is exported without it
    #[arg(long, env = "WASMPOD_OTLP_ENDPOINT", value_parser = parse_endpoint)]
    pub otlp_endpoint: Option<OtlpEndpoint>,
}

/// A collector's OTLP/HTTP traces URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint(String);

/// `http://host:port` (spans to `/v1/traces`) or the full URL of the traces path.
fn parse_endpoint(text: &str) -> Result<OtlpEndpoint, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "{text:?}: the collector's URL must start with http:// (OTLP/HTTP without TLS)"
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no host"));
    }
    let path = uri.path();
    if path.is_empty() || path == "/" {
        Ok(OtlpEndpoint(format!(
            "{}/v1/traces",
            text.trim_end_matches('/')
        )))
    } else {
        Ok(OtlpEndpoint(text.to_string()))
    }
}

/// Who the exported spans come from: the OpenTelemetry `service.name` (`wasmpod-node`,
/// `wasmpod-server`) and the node's or server's name.
pub struct Origin {
    pub service: &'static str,
    pub instance: String,
}

/// Flushes the exported spans when dropped (at the end of `main`).
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: exporting the last spans failed: {error}");
            }
        }
    }
}

/// Installs the log output and, when `export` names a collector, the span exporter.
pub fn init(export: Option<(&OtlpEndpoint, Origin)>) -> anyhow::Result<Telemetry> {
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")));
    let Some((endpoint, origin)) = export else {
        tracing_subscriber::registry().with(logs).init();
        return Ok(Telemetry { provider: None });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.0.clone())
        .with_timeout(Duration::from_secs(10))
        .build()
        .with_context(|| format!("--otlp-endpoint {}", endpoint.0))?;
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
    let resource = Resource::builder_empty()
        .with_service_name(origin.service)
        .with_attributes([
            KeyValue::new("service.instance.id", origin.instance.clone()),
            KeyValue::new("wasmpod.node", origin.instance),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_resource(resource)
        .build();
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("wasmpod"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_target(false)
        .with_level(false)
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::INFO));
    tracing_subscriber::registry().with(logs).with(spans).init();
    wasmpod_runtime::telemetry::set_exporting();
    Ok(Telemetry {
        provider: Some(provider),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_url_gets_the_traces_path() {
        assert_eq!(
            parse_endpoint("http://collector:4318"),
            Ok(OtlpEndpoint("http://collector:4318/v1/traces".into()))
        );
        assert_eq!(
            parse_endpoint("http://collector:4318/"),
            Ok(OtlpEndpoint("http://collector:4318/v1/traces".into()))
        );
        assert_eq!(
            parse_endpoint("http://c:4318/custom/traces"),
            Ok(OtlpEndpoint("http://c:4318/custom/traces".into()))
        );
    }

    #[test]
    fn a_url_that_cannot_be_a_collector_is_refused() {
        for bad in [
            "collector:4318",
            "https://collector:4318",
            "http://",
            "not a url",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
