//! Client certificates of the cluster CA for tools outside the cluster (`wasmpod create
//! client-certificate NAME`): what `POST /api/v1/clientcertificates` takes and answers.
//!
//! On a TLS cluster a node's agent port speaks mutual TLS only, so a scraper such as Prometheus
//! needs a certificate of the cluster CA to read a node's `/metrics`. The tool's key pair is made
//! where it runs and never sent: the request carries the public key only. The certificate names
//! the tool `<name>.clients.wasmpod` (a name no node certificate, which is under
//! `nodes.wasmpod` or an IP address, and not the control plane's `control-plane.wasmpod`, can
//! carry) and is valid for client authentication only, so it opens nothing a node or the control
//! plane is trusted with: a node's agent answers it `/metrics` and nothing else, and a node's
//! peer listener does not take it for a node's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The DNS suffix of client certificates.
const CLIENT_SUFFIX: &str = "clients.wasmpod";

/// Validity of a client certificate when the request gives none.
pub const DEFAULT_VALID_DAYS: u32 = 365;
/// The longest validity a client certificate may ask for (revoke one early with `wasmpod delete
/// client-certificate NAME`, see [`crate::revocation`]).
pub const MAX_VALID_DAYS: u32 = 3650;

/// The DNS name a client certificate carries: `<name>.clients.wasmpod`.
pub fn client_dns_name(name: &str) -> String {
    format!("{name}.{CLIENT_SUFFIX}")
}

/// `POST /api/v1/clientcertificates` (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientCertificateRequest {
    /// The tool's name: a DNS label (lowercase letters, digits and `-`, at most 63), checked by
    /// the server (422 otherwise). The certificate names `<name>.clients.wasmpod`.
    pub name: String,
    /// The raw ECDSA P-256 public key (the uncompressed point, 65 bytes), base64.
    pub public_key: String,
    /// Days the certificate is valid from today (default [`DEFAULT_VALID_DAYS`], at most
    /// [`MAX_VALID_DAYS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_days: Option<u32>,
}

/// The answer: the certificate and the CA that signed it, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuedClientCertificate {
    /// The DNS name the certificate carries (`<name>.clients.wasmpod`).
    pub dns_name: String,
    /// The certificate alone.
    pub certificate_pem: String,
    /// The cluster CA's certificate (what the tool trusts for the nodes' agents).
    pub ca_pem: String,
    /// The end of its validity.
    pub not_after: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_under_their_own_suffix() {
        let name = client_dns_name("prometheus");
        assert_eq!(name, "prometheus.clients.wasmpod");
        assert!(!name.ends_with(".nodes.wasmpod"));
        assert_ne!(
            client_dns_name("control-plane"),
            crate::node_tls::CONTROL_PLANE_NAME
        );
        assert_ne!(
            client_dns_name("node-a"),
            crate::node_tls::node_dns_name("node-a")
        );
    }

    #[test]
    fn a_request_without_a_validity_takes_the_default_and_unknown_fields_are_refused() {
        let request: ClientCertificateRequest =
            serde_json::from_str(r#"{"name":"prometheus","publicKey":"AAAA"}"#).expect("parse");
        assert_eq!(request.valid_days, None);
        assert!(serde_json::from_str::<ClientCertificateRequest>(
            r#"{"name":"p","publicKey":"AAAA","addresses":["127.0.0.1"]}"#
        )
        .is_err());
    }
}
