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
//! revocation carries no new handshake.

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

/// The serial number of the certificate `der` (its DER INTEGER's content bytes), lowercase hex;
/// `None` when `der` is not a certificate.
pub fn serial_hex(der: &CertificateDer<'_>) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(der).ok()?;
    Some(hex::encode(cert.serial()))
}

/// The revoked serials a node knows, shared by its listeners and replaced whole by the task that
/// reads them from the control plane. Starts empty.
#[derive(Debug, Clone, Default)]
pub struct RevokedSerials(Arc<RwLock<Arc<HashSet<String>>>>);

impl RevokedSerials {
    /// Replaces the set with `serials` (lowercase hex); true when it changed.
    pub fn replace(&self, serials: impl IntoIterator<Item = String>) -> bool {
        let next: HashSet<String> = serials.into_iter().collect();
        let mut current = self.0.write().unwrap_or_else(|p| p.into_inner());
        if **current == next {
            return false;
        }
        *current = Arc::new(next);
        true
    }

    /// Whether the certificate `der` is revoked. A certificate whose serial cannot be read is
    /// refused as well (the handshake's verifier has already refused it, this is a second line).
    pub fn revokes(&self, der: &CertificateDer<'_>) -> bool {
        match serial_hex(der) {
            Some(serial) => self
                .0
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&serial),
            None => true,
        }
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
        if self.revoked.revokes(end_entity) {
            tracing::info!(
                serial = serial_hex(end_entity).unwrap_or_default(),
                "refused a revoked client certificate"
            );
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

    #[test]
    fn a_revoked_serial_is_refused_in_the_handshake_and_on_each_request() {
        let ca = ca();
        let kept = leaf(&ca, &[0x41, 1, 2, 3]);
        let revoked_cert = leaf(&ca, &[0x41, 9, 9, 9]);
        assert_eq!(serial_hex(&revoked_cert).as_deref(), Some("41090909"));
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
        for cert in [&kept, &revoked_cert] {
            verifier.verify_client_cert(cert, &[], now).expect("passes");
            assert!(!revoked.revokes(cert));
        }
        assert!(revoked.replace(["41090909".to_string()]));
        assert!(!revoked.replace(["41090909".to_string()]), "no change");
        verifier.verify_client_cert(&kept, &[], now).expect("kept");
        assert!(matches!(
            verifier.verify_client_cert(&revoked_cert, &[], now),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            ))
        ));
        assert!(revoked.revokes(&revoked_cert));
        assert!(!revoked.revokes(&kept));
        // Not a certificate: refused.
        assert!(revoked.revokes(&CertificateDer::from(vec![1u8, 2, 3])));
        // Emptied again: passes again.
        assert!(revoked.replace(Vec::new()));
        verifier
            .verify_client_cert(&revoked_cert, &[], now)
            .expect("no longer revoked");
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
