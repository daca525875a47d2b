//! Trust in the cluster CA: the CA certificate a client verifies the API servers against, its
//! pin (`sha256:<hex>` of the certificate's DER SubjectPublicKeyInfo, as kubeadm's
//! `--discovery-token-ca-cert-hash`), HTTP clients that trust only that CA, and the first contact
//! of a joining node: fetch the CA from the server's TLS handshake and accept it only if its
//! pin matches.
//!
//! TLS here is rustls with ring; no client trusts the system's roots.

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("not a PEM certificate: {0}")]
    Pem(String),
    #[error("cannot parse the certificate: {0}")]
    Certificate(String),
    #[error("a CA pin is `sha256:` and 64 hex digits, not {0:?}")]
    Pin(String),
    #[error("{url} is not an https:// URL with a host")]
    Url { url: String },
    #[error("cannot reach {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the server {url} presents a CA {seen} that does not match the pinned {expected}: \
         refusing to join"
    )]
    PinMismatch {
        url: String,
        expected: CaPin,
        seen: String,
    },
    #[error("TLS error: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The pin of a CA: SHA-256 of its certificate's DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaPin([u8; 32]);

impl CaPin {
    /// `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<CaPin, TlsError> {
        let hex_part = text
            .trim()
            .strip_prefix("sha256:")
            .ok_or_else(|| TlsError::Pin(text.to_string()))?;
        let bytes = hex::decode(hex_part).map_err(|_| TlsError::Pin(text.to_string()))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(CaPin)
            .map_err(|_| TlsError::Pin(text.to_string()))
    }

    /// The pin of the certificate `der`.
    pub fn of_certificate(der: &CertificateDer<'_>) -> Result<CaPin, TlsError> {
        let cert = webpki::EndEntityCert::try_from(der)
            .map_err(|e| TlsError::Certificate(format!("{e:?}")))?;
        let spki = cert.subject_public_key_info();
        Ok(CaPin(Sha256::digest(spki.as_ref()).into()))
    }
}

impl fmt::Display for CaPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// The cluster CA's certificate (never its key).
#[derive(Clone)]
pub struct ClusterCa {
    der: CertificateDer<'static>,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field(
                "pin",
                &self.pin().map(|p| p.to_string()).unwrap_or_default(),
            )
            .finish()
    }
}

impl ClusterCa {
    pub fn from_der(der: CertificateDer<'static>) -> Result<ClusterCa, TlsError> {
        CaPin::of_certificate(&der)?;
        Ok(ClusterCa { der })
    }

    pub fn from_pem(pem: &str) -> Result<ClusterCa, TlsError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| TlsError::Pem(e.to_string()))?;
        ClusterCa::from_der(der)
    }

    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    pub fn pem(&self) -> String {
        certificate_pem(&self.der)
    }

    pub fn pin(&self) -> Result<CaPin, TlsError> {
        CaPin::of_certificate(&self.der)
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        // Parsed in the constructor: adding it cannot fail on a certificate webpki read.
        if let Err(error) = roots.add(self.der.clone()) {
            tracing::warn!(%error, "the cluster CA is not a usable trust anchor");
        }
        roots
    }
}

/// The PEM of the certificate `der`.
pub fn certificate_pem(der: &CertificateDer<'_>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config that trusts `ca` only (nothing at all without one: every https server
/// then fails verification).
pub fn client_config(ca: Option<&ClusterCa>) -> Result<rustls::ClientConfig, TlsError> {
    let roots = ca
        .map(ClusterCa::roots)
        .unwrap_or_else(RootCertStore::empty);
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP client builder whose https trusts `ca` only.
pub fn http_client(ca: Option<&ClusterCa>) -> Result<reqwest::ClientBuilder, TlsError> {
    Ok(reqwest::Client::builder().use_preconfigured_tls(client_config(ca)?))
}

/// Connects to `url` (https), reads the certificate chain the server presents, and returns the
/// CA in it whose pin is `pin`, after checking the server's certificate is signed by it for the
/// URL's host. Any other CA is refused with the pin it had.
pub async fn fetch_pinned_ca(url: &str, pin: &CaPin) -> Result<ClusterCa, TlsError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| TlsError::Url { url: url.into() })?;
    let host = parsed
        .host_str()
        .filter(|_| parsed.scheme() == "https")
        .ok_or_else(|| TlsError::Url { url: url.into() })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let server_name =
        ServerName::try_from(host.clone()).map_err(|_| TlsError::Url { url: url.into() })?;
    let verifier = Arc::new(PinVerifier {
        pin: pin.clone(),
        seen: Mutex::new(Vec::new()),
        found: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connect = |source| TlsError::Connect {
        url: url.into(),
        source,
    };
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| connect(std::io::ErrorKind::TimedOut.into()))?
    .map_err(connect)?;
    let handshake = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await;
    let found = verifier
        .found
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match (handshake, found) {
        (Ok(_), Some(ca)) => Ok(ca),
        (_, None) => {
            let seen = verifier.seen.lock().unwrap_or_else(|p| p.into_inner());
            Err(TlsError::PinMismatch {
                url: url.into(),
                expected: pin.clone(),
                seen: if seen.is_empty() {
                    "(no certificate)".to_string()
                } else {
                    seen.iter()
                        .map(CaPin::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
        }
        (Err(source), Some(_)) => Err(connect(source)),
    }
}

/// Accepts a server whose chain holds the pinned CA and whose certificate that CA signed.
#[derive(Debug)]
struct PinVerifier {
    pin: CaPin,
    /// The pins of the CA certificates the server presented.
    seen: Mutex<Vec<CaPin>>,
    found: Mutex<Option<ClusterCa>>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        for candidate in intermediates {
            let Ok(pin) = CaPin::of_certificate(candidate) else {
                continue;
            };
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(pin.clone());
            if pin != self.pin {
                continue;
            }
            let ca = ClusterCa::from_der(candidate.clone().into_owned())
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(ca.roots()), provider())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
            let verified =
                verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)?;
            *self.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(ca);
            return Ok(verified);
        }
        Err(rustls::Error::General(format!(
            "no CA with pin {} in the server's chain",
            self.pin
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_print_alike() {
        let text = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(CaPin::parse(&text).expect("pin").to_string(), text);
        assert!(CaPin::parse("sha256:abcd").is_err());
        assert!(CaPin::parse(&"ab".repeat(32)).is_err());
    }
}
