//! The HTTP client spans are exported with: TLS (rustls, ring) verified against the system's
//! roots or the CA file given, a client certificate for a collector that requires one (mutual
//! TLS), the configured timeout on each export, and the configured headers on every export. The headers are set
//! here, on each request, rather than handed to the OTLP exporter: the exporter also reads
//! `OTEL_EXPORTER_OTLP_HEADERS` itself and would let the variable override `--otlp-header`.
//! A failing export (a refused key, a certificate that does not verify, a collector away) is
//! logged here, at most once a minute: the exporter's own logs are off.

use super::config::{ClientIdentity, ExportConfig, Roots};
use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use opentelemetry_http::{HttpClient, HttpError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a collector that keeps failing is logged again.
const SAY_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// A blocking client (the batch processor exports from a thread of its own) that adds the
/// configured headers to every export and logs the exports that fail.
#[derive(Debug)]
pub struct CollectorClient {
    inner: reqwest::blocking::Client,
    headers: HeaderMap,
    /// The traces URL, for the log.
    collector: String,
    /// The longest one export may take, for the log.
    timeout: Duration,
    failures: Mutex<Failures>,
}

/// The exports that failed since the collector last worked.
#[derive(Debug, Default)]
struct Failures {
    /// When a failure was last logged (none: the last export worked).
    said_at: Option<Instant>,
    /// Failures since then, not logged.
    unsaid: u64,
}

#[async_trait::async_trait]
impl HttpClient for CollectorClient {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        for (name, value) in &self.headers {
            request.headers_mut().insert(name, value.clone());
        }
        let sent = self.inner.send_bytes(request).await;
        match &sent {
            Ok(_) => self.worked(),
            Err(error) => self.failed(error.as_ref()),
        }
        sent
    }
}

impl CollectorClient {
    fn failed(&self, error: &(dyn std::error::Error + 'static)) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if failures
            .said_at
            .is_some_and(|at| now.duration_since(at) < SAY_AGAIN_AFTER)
        {
            failures.unsaid += 1;
            return;
        }
        let unsaid = std::mem::take(&mut failures.unsaid);
        failures.said_at = Some(now);
        drop(failures);
        let error = if timed_out(error) {
            format!(
                "the collector did not answer within {} ms (OTEL_EXPORTER_OTLP_TIMEOUT)",
                self.timeout.as_millis()
            )
        } else {
            causes(error)
        };
        tracing::warn!(
            collector = %self.collector,
            %error,
            failed_since_last_said = unsaid,
            "exporting spans failed; they are dropped"
        );
    }

    fn worked(&self) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.said_at.take().is_some() {
            failures.unsaid = 0;
            drop(failures);
            tracing::info!(collector = %self.collector, "exporting spans works again");
        }
    }
}

/// Whether `error` (or a cause of it) is the client's timeout.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// `error` and its causes on one line (a TLS refusal is a cause of a cause).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// The client for `config`'s collector. Reads the CA file (or the system's roots) and the
/// client certificate and key now, so that a bad one stops the process at start, naming the
/// flag or variable and the file (never the key's content).
pub fn collector_client(config: &ExportConfig) -> anyhow::Result<CollectorClient> {
    let roots = if config.is_https() {
        root_store(&config.roots)?
    } else {
        RootCertStore::empty()
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS for the OTLP collector")?
    .with_root_certificates(roots);
    let tls = match config
        .client_identity
        .as_ref()
        .filter(|_| config.is_https())
    {
        None => tls.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = client_identity(identity)?;
            let (certificate, key_file) = (&identity.certificate, &identity.key);
            tls.with_client_auth_cert(chain, key).map_err(|error| {
                anyhow::anyhow!(
                    "{} {} and {} {}: the key cannot be used with the certificate ({})",
                    certificate.setting,
                    certificate.path.display(),
                    key_file.setting,
                    key_file.path.display(),
                    key_error(&error)
                )
            })?
        }
    };
    let timeout = config.timeout;
    // A blocking client owns a runtime of its own: it is built (and later dropped) off the
    // async runtime that runs `main`.
    let inner = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .user_agent(concat!("wasmpod/", env!("CARGO_PKG_VERSION")))
            .build()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("building the OTLP client panicked"))?
    .context("the OTLP collector's HTTP client")?;
    Ok(CollectorClient {
        inner,
        headers: config.headers.clone(),
        collector: config.traces_url.to_string(),
        timeout: config.timeout,
        failures: Mutex::new(Failures::default()),
    })
}

/// The client's certificate chain and key, read from their files. The key file's content is never
/// part of an error: only its flag or variable and its path are.
fn client_identity(
    identity: &ClientIdentity,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let ClientIdentity { certificate, key } = identity;
    let (setting, shown) = (certificate.setting, certificate.path.display());
    let pem = std::fs::read(&certificate.path)
        .with_context(|| format!("{setting} {shown}: cannot read the client certificate"))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("{setting} {shown}: not a PEM certificate file"))?;
    if chain.is_empty() {
        anyhow::bail!("{setting} {shown}: no PEM CERTIFICATE block in the file");
    }
    let (setting, shown) = (key.setting, key.path.display());
    let pem = std::fs::read(&key.path)
        .with_context(|| format!("{setting} {shown}: cannot read the client key"))?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        anyhow::anyhow!(
            "{setting} {shown}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file"
        )
    })?;
    rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| {
            anyhow::anyhow!(
                "{setting} {shown}: not a private key TLS can use (an unsupported or malformed \
                 key)"
            )
        })?;
    Ok((chain, key))
}

/// What rustls says of a key it cannot use, in words that hold no key material.
fn key_error(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InconsistentKeys(_) => "they do not match".to_string(),
        rustls::Error::General(_) => "an unsupported or malformed key".to_string(),
        other => other.to_string(),
    }
}

/// The certificates an `https://` collector is verified against.
fn root_store(roots: &Roots) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::CaFile { path, setting } => {
            let shown = path.display();
            let pem = std::fs::read(path)
                .with_context(|| format!("{setting} {shown}: cannot read the CA file"))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{setting} {shown}: not a PEM certificate file"))?;
            if certs.is_empty() {
                anyhow::bail!("{setting} {shown}: no PEM CERTIFICATE block in the file");
            }
            for cert in certs {
                store.add(cert).with_context(|| {
                    format!("{setting} {shown}: a certificate that cannot be a CA")
                })?;
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            // Logging is not set up yet: a file of the store that cannot be read is said here.
            for error in &found.errors {
                eprintln!("warning: reading the system's root certificates: {error}");
            }
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                anyhow::bail!(
                    "no system root certificates to verify the https:// OTLP collector with \
                     (set SSL_CERT_FILE, or give --otlp-ca-file)"
                );
            }
        }
    }
    Ok(store)
}
