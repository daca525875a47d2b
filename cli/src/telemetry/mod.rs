//! What the process reports about itself: log lines to stderr (`RUST_LOG`, default `warn`) and,
//! with a collector configured (`config.rs`: `--otlp-endpoint` or the OTel SDK's variables), the
//! spans of requests and command pod runs (`wasmpod_runtime::telemetry`) exported over OTLP/HTTP
//! (protobuf), plain, TLS or mutual TLS (`transport.rs`). Spans leave through a batch processor on
//! its own thread: a request never waits on the export, and a full queue drops spans rather than
//! slowing it. `OTEL_SDK_DISABLED=true` turns the export off, which the process says once.

mod config;
mod endpoint;
mod headers;
mod transport;
mod values;

pub use config::{Exporting, OtlpArgs};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use wasmpod_runtime::telemetry::TARGET;

/// Who the exported spans come from: the OpenTelemetry `service.name` (`wasmpod-node`,
/// `wasmpod-server`, unless `OTEL_SERVICE_NAME` names another) and the node's or server's name.
pub struct Origin {
    pub service: &'static str,
    pub instance: String,
}

/// Where this process exports its spans (or that it does not, though a collector is set), and as
/// whom.
pub struct Export {
    pub exporting: Exporting,
    pub origin: Origin,
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
pub fn init(export: Option<Export>) -> anyhow::Result<Telemetry> {
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")));
    let (config, origin) = match export {
        Some(Export {
            exporting: Exporting::To(config),
            origin,
        }) => (config, origin),
        Some(Export {
            exporting: Exporting::Disabled { collector },
            ..
        }) => {
            tracing_subscriber::registry().with(logs).init();
            tracing::warn!(
                %collector,
                "OTEL_SDK_DISABLED=true: no spans are exported, though a collector is set"
            );
            return Ok(Telemetry { provider: None });
        }
        Some(Export {
            exporting: Exporting::Off,
            ..
        })
        | None => {
            tracing_subscriber::registry().with(logs).init();
            return Ok(Telemetry { provider: None });
        }
    };
    let client = transport::collector_client(&config)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(config.traces_url.to_string())
        .with_timeout(config.timeout)
        .build()
        .map_err(|e| anyhow::anyhow!("the OTLP exporter for {}: {e}", config.traces_url))?;
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
    let resource = Resource::builder_empty()
        .with_attributes(
            config
                .resource(origin.service, &origin.instance)
                .into_iter()
                .map(|(key, value)| KeyValue::new(key, value)),
        )
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
