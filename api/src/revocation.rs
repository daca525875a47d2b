//! Revoking the cluster CA's certificates: what the control plane keeps of each certificate it
//! issued (a node's or a tool's, by serial number), what the admin lists and revokes, and what
//! every node holds of it to refuse a revoked certificate.
//!
//! The control plane records every certificate its CA signs (serial, kind, name, end of
//! validity). `wasmpod delete client-certificate NAME` revokes a tool's certificates, deleting a
//! node revokes the node's. Each node reads the revoked serials (`GET
//! /api/v1/revokedcertificates`) every [`REFRESH`] into a [`RevokedSerials`] set that its
//! mutual-TLS listeners (the gateway's peer listener, the node agent) consult twice: in the
//! handshake ([`RevocationCheckingVerifier`] around the CA's verifier) and on each request
//! ([`RevokedSerials::revokes`]), since a connection opened (or a TLS session resumed) before the
//! revocation carries no new handshake. The listener reads the client certificate's
//! [`CertificateSerial`] once per connection, so the check on each request is a set lookup.

use chrono::{DateTime, Utc};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often a node reads the revoked serials again: a revocation holds on every node within
/// about this (plus the control plane's own copy's age, a second).
pub const REFRESH: Duration = Duration::from_secs(1);

/// What a certificate of the cluster CA is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CertificateKind {
    /// A node's (`<node>.nodes.wasmpod`, `POST /api/v1/nodes/NAME/certificate`).
    Node,
    /// A tool's client certificate (`<name>.clients.wasmpod`, `wasmpod create
    /// client-certificate`).
    Client,
}

impl std::fmt::Display for CertificateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateKind::Node => "node",
            CertificateKind::Client => "client",
        })
    }
}

/// One certificate the CA issued, as `GET /api/v1/clientcertificates` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuedCertificate {
    /// The node's or the tool's name.
    pub name: String,
    pub kind: CertificateKind,
    /// The certificate's serial number, lowercase hex.
    pub serial: String,
    pub not_after: DateTime<Utc>,
    /// When it was revoked (`None`: it is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<DateTime<Utc>>,
}

/// `DELETE /api/v1/clientcertificates/NAME`: the serials it revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revoked {
    pub name: String,
    pub serials: Vec<String>,
}

/// `GET /api/v1/revokedcertificates`: every revoked serial not yet expired, lowercase hex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokedCertificates {
    pub serials: Vec<String>,
}

/// A certificate's serial number: the content bytes of its DER INTEGER, as the CA wrote them;
/// shown and sent as lowercase hex (`Display`, [`CertificateSerial::from_hex`]).
///
/// A listener reads it once per connection ([`CertificateSerial::of`], a parse of the whole
/// certificate), and keeps it beside the certificate, so the check on each request of that
/// connection ([`RevokedSerials::revokes`]) is a set lookup of a few bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificateSerial(Box<[u8]>);

/// Why a [`CertificateSerial`] could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    #[error("not an X.509 certificate")]
    NotACertificate(#[source] webpki::Error),
    #[error("{0:?} is not a serial number in hex")]
    NotHex(String, #[source] hex::FromHexError),
    #[error("an empty serial number")]
    Empty,
}

impl CertificateSerial {
    /// The serial number of the certificate `der`.
    pub fn of(der: &CertificateDer<'_>) -> Result<CertificateSerial, SerialError> {
        let cert = webpki::EndEntityCert::try_from(der).map_err(SerialError::NotACertificate)?;
        CertificateSerial::from_bytes(cert.serial())
    }

    /// A serial number written in hex (either case), as the control plane lists them.
    pub fn from_hex(hex: &str) -> Result<CertificateSerial, SerialError> {
        let bytes = hex::decode(hex).map_err(|e| SerialError::NotHex(hex.to_string(), e))?;
        CertificateSerial::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<CertificateSerial, SerialError> {
        if bytes.is_empty() {
            return Err(SerialError::Empty);
        }
        Ok(CertificateSerial(bytes.into()))
    }
}

impl std::str::FromStr for CertificateSerial {
    type Err = SerialError;

    fn from_str(hex: &str) -> Result<Self, Self::Err> {
        CertificateSerial::from_hex(hex)
    }
}

impl std::fmt::Display for CertificateSerial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::fmt::Debug for CertificateSerial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateSerial({self})")
    }
}

/// The serial number of the certificate `der`, lowercase hex; `None` when `der` is not a
/// certificate.
pub fn serial_hex(der: &CertificateDer<'_>) -> Option<String> {
    CertificateSerial::of(der)
        .ok()
        .map(|serial| serial.to_string())
}

/// The revoked serials a node knows, shared by its listeners and replaced whole by the task that
/// reads them from the control plane. Starts empty.
#[derive(Debug, Clone, Default)]
pub struct RevokedSerials(Arc<RwLock<HashSet<CertificateSerial>>>);

impl RevokedSerials {
    /// Replaces the set with `serials`; true when it changed.
    pub fn replace(&self, serials: impl IntoIterator<Item = CertificateSerial>) -> bool {
        let next: HashSet<CertificateSerial> = serials.into_iter().collect();
        let mut current = self.0.write().unwrap_or_else(|p| p.into_inner());
        if *current == next {
            return false;
        }
        *current = next;
        true
    }

    /// Whether the certificate of serial number `serial` is revoked: a lookup, nothing parsed.
    pub fn revokes(&self, serial: &CertificateSerial) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(serial)
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A client certificate verifier that refuses a revoked certificate, then asks `inner` (the
/// cluster CA's verifier).
#[derive(Debug)]
pub struct RevocationCheckingVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub revoked: RevokedSerials,
}

impl ClientCertVerifier for RevocationCheckingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        // The inner verifier parsed it already: a certificate it passed always has a serial.
        let serial = CertificateSerial::of(end_entity).map_err(|error| {
            tracing::info!(%error, "refused a client certificate without a readable serial");
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if self.revoked.revokes(&serial) {
            tracing::info!(%serial, "refused a revoked client certificate");
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SerialNumber};

    fn ca() -> (CertificateParams, KeyPair, CertificateDer<'static>) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let der = params.clone().self_signed(&key).expect("CA").der().clone();
        (params, key, der)
    }

    fn leaf(
        ca: &(CertificateParams, KeyPair, CertificateDer<'static>),
        serial: &[u8],
    ) -> CertificateDer<'static> {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["tool.clients.wasmpod".into()]).expect("p");
        params.serial_number = Some(SerialNumber::from_slice(serial));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params
            .signed_by(&key, &Issuer::new(ca.0.clone(), &ca.1))
            .expect("leaf")
            .der()
            .clone()
    }

    fn serial(hex: &str) -> CertificateSerial {
        CertificateSerial::from_hex(hex).expect("a serial")
    }

    #[test]
    fn a_revoked_serial_is_refused_in_the_handshake_and_on_each_request() {
        let ca = ca();
        let kept = leaf(&ca, &[0x41, 1, 2, 3]);
        let revoked_cert = leaf(&ca, &[0x41, 9, 9, 9]);
        assert_eq!(serial_hex(&revoked_cert).as_deref(), Some("41090909"));
        let (kept_serial, revoked_serial) = (
            CertificateSerial::of(&kept).expect("serial"),
            CertificateSerial::of(&revoked_cert).expect("serial"),
        );
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.2.clone()).expect("root");
        let inner = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        let revoked = RevokedSerials::default();
        let verifier = RevocationCheckingVerifier {
            inner,
            revoked: revoked.clone(),
        };
        let now = UnixTime::now();
        // Nothing revoked yet: both pass.
        for (cert, serial) in [(&kept, &kept_serial), (&revoked_cert, &revoked_serial)] {
            verifier.verify_client_cert(cert, &[], now).expect("passes");
            assert!(!revoked.revokes(serial));
        }
        assert!(revoked.replace([serial("41090909")]));
        assert!(!revoked.replace([serial("41090909")]), "no change");
        verifier.verify_client_cert(&kept, &[], now).expect("kept");
        assert!(matches!(
            verifier.verify_client_cert(&revoked_cert, &[], now),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            ))
        ));
        // The serial a listener read before the revocation is refused on its next request.
        assert!(revoked.revokes(&revoked_serial));
        assert!(!revoked.revokes(&kept_serial));
        // Emptied again: passes again.
        assert!(revoked.replace(Vec::new()));
        assert!(!revoked.revokes(&revoked_serial));
        verifier
            .verify_client_cert(&revoked_cert, &[], now)
            .expect("no longer revoked");
    }

    #[test]
    fn a_serial_is_read_from_a_certificate_or_hex_and_shown_as_lowercase_hex() {
        let ca = ca();
        // A leading zero byte (a positive serial with its top bit set) is part of the serial.
        let cert = leaf(&ca, &[0x00, 0xab, 0xcd, 0x01]);
        let read = CertificateSerial::of(&cert).expect("serial");
        assert_eq!(read.to_string(), "00abcd01");
        assert_eq!(format!("{read:?}"), "CertificateSerial(00abcd01)");
        // The control plane's hex, in either case, is the same serial (same hash, same set).
        assert_eq!(serial("00ABCD01"), read);
        assert_eq!(
            "00abcd01".parse::<CertificateSerial>().expect("parses"),
            read
        );
        let set: HashSet<CertificateSerial> = [serial("00abcd01")].into_iter().collect();
        assert!(set.contains(&read));
        assert_ne!(serial("abcd01"), read, "no leading zero: another serial");
        // What is no serial says why.
        assert!(matches!(
            CertificateSerial::of(&CertificateDer::from(vec![1u8, 2, 3])),
            Err(SerialError::NotACertificate(_))
        ));
        assert_eq!(serial_hex(&CertificateDer::from(vec![1u8, 2, 3])), None);
        for bad in ["41a", "41zz", "41 aa"] {
            let error = CertificateSerial::from_hex(bad).expect_err(bad);
            assert!(matches!(error, SerialError::NotHex(..)), "{bad}: {error}");
            assert!(error.to_string().contains(bad), "{error}");
        }
        assert!(matches!(
            CertificateSerial::from_hex(""),
            Err(SerialError::Empty)
        ));
    }

    #[test]
    fn kinds_and_lists_keep_their_wire_shape() {
        let issued = IssuedCertificate {
            name: "prometheus".into(),
            kind: CertificateKind::Client,
            serial: "41ab".into(),
            not_after: DateTime::from_timestamp(0, 0).expect("time"),
            revoked: None,
        };
        let json = serde_json::to_value(&issued).expect("json");
        assert_eq!(json["kind"], "client");
        assert!(json.get("revoked").is_none());
        let back: IssuedCertificate = serde_json::from_value(json).expect("back");
        assert_eq!(back, issued);
    }
}
