//! The cluster CA: made by the first server on its first start, kept as one record in the
//! store's reserved range (so every API server on one etcd uses the same CA), its private key
//! sealed there with ChaCha20-Poly1305 under a key derived from the secrets key (which every
//! server of a cluster shares and keeps 0600). Each server signs a certificate for its own
//! addresses with it on every start; nodes and the CLI trust the CA alone. A node's certificate
//! lives as long as `--node-certificate-validity` says (see [`crate::node_certificate_validity`]);
//! the node renews it before it ends.

use crate::issued_certificates::IssuedCertificates;
use crate::node_certificate_validity::NodeCertificateValidity;
use crate::store::{Store, StoreError};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use thiserror::Error;
use wasmpod_api::gateway_key::hmac_sha256;
use wasmpod_api::tls::ClusterCa as CaCertificate;

/// The store record that holds the CA.
const RECORD: &str = "cluster-ca";
const CA_NAME: &str = "wasmpod cluster CA";

#[derive(Debug, Error)]
pub enum CaError {
    #[error("cannot keep the cluster CA in the store: {0}")]
    Store(#[from] StoreError),
    #[error("the cluster CA record is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot open the cluster CA's key: this server's secrets key differs from the one that sealed it")]
    Unseal,
    #[error("cannot make or use the cluster CA: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error(transparent)]
    Tls(#[from] wasmpod_api::tls::TlsError),
    #[error("not a P-256 public key: {0}")]
    PublicKey(String),
    #[error("a client certificate's validity must be 1 to {max} days, not {asked}")]
    Validity { asked: u32, max: u32 },
    #[error("the server's TLS configuration is invalid: {0}")]
    Rustls(#[from] rustls::Error),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Stored {
    certificate_pem: String,
    /// nonce || ChaCha20-Poly1305(PKCS#8 DER of the key), base64.
    sealed_key: String,
}

pub struct ClusterAuthority {
    certificate: CaCertificate,
    key: KeyPair,
    /// What it signed, for revocation.
    issued: IssuedCertificates,
    /// How long a node's certificate lives.
    node_validity: NodeCertificateValidity,
}

/// The CA's subject and key identifiers: the same on every server, so a server that did not make
/// the CA signs certificates whose issuer matches it.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    params
}

/// What every certificate the CA signs shares: its subject, key usages and validity.
fn leaf_params(common_name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()));
    Ok(params)
}

/// The validity of a node's certificate signed at `now` (whole seconds, as X.509 keeps them):
/// from `backdate` before it to `validity` after it.
fn node_validity_window(
    now: chrono::DateTime<chrono::Utc>,
    validity: NodeCertificateValidity,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let now = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let span = |d: std::time::Duration| chrono::Duration::seconds(d.as_secs() as i64);
    (
        now - span(validity.backdate()),
        now + span(validity.duration()),
    )
}

/// Sets `params`' validity to `not_before`..`not_after` (whole seconds after the Unix epoch; a
/// time before it is the epoch): rcgen's times are the `time` crate's, reached from its
/// `date_time_ymd`.
fn set_validity(
    params: &mut CertificateParams,
    not_before: chrono::DateTime<chrono::Utc>,
    not_after: chrono::DateTime<chrono::Utc>,
) {
    let since_epoch = |at: chrono::DateTime<chrono::Utc>| {
        std::time::Duration::from_secs(at.timestamp().max(0) as u64)
    };
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(not_before);
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(not_after);
}

/// A random positive serial number of 16 bytes whose first byte is not zero (so its DER
/// encoding is these bytes as they are, which is what a verifier reads back), as revocation
/// tells certificates apart by it: the default (a hash of the public key) would give a tool that
/// keeps its key the serial of its revoked certificate.
fn random_serial() -> [u8; 16] {
    let mut serial: [u8; 16] = rand::random();
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

/// A public key as a node or a tool sent it: an uncompressed P-256 point (its private half
/// stays with the sender).
struct SentPublicKey(Vec<u8>);

impl SentPublicKey {
    fn new(raw: &[u8]) -> Result<SentPublicKey, CaError> {
        if raw.len() != 65 || raw[0] != 4 {
            return Err(CaError::PublicKey(format!(
                "{} bytes; want an uncompressed P-256 point (65 bytes, starting 0x04)",
                raw.len()
            )));
        }
        Ok(SentPublicKey(raw.to_vec()))
    }
}

impl rcgen::PublicKeyData for SentPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// A tool's client certificate (see [`ClusterAuthority::sign_client`]).
pub struct SignedClient {
    /// `<name>.clients.wasmpod`.
    pub dns_name: String,
    pub certificate: CertificateDer<'static>,
    /// Its serial number, lowercase hex.
    pub serial: String,
    /// The last day it is valid (it ends at midnight UTC starting that day).
    pub not_after: chrono::NaiveDate,
}

/// A node's certificate (see [`ClusterAuthority::sign_node`]).
pub struct SignedNode {
    /// The certificate then the CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// Its serial number, lowercase hex.
    pub serial: String,
    pub not_before: chrono::DateTime<chrono::Utc>,
    pub not_after: chrono::DateTime<chrono::Utc>,
}

/// The serial number `params` sign with, lowercase hex.
fn serial_of(params: &CertificateParams) -> String {
    params
        .serial_number
        .as_ref()
        .map(|serial| hex::encode(serial.to_bytes()))
        .unwrap_or_default()
}

fn cipher(secrets_key: &[u8; 32]) -> ChaCha20Poly1305 {
    let key = hmac_sha256(secrets_key, b"wasmpod cluster CA key");
    ChaCha20Poly1305::new(Key::from_slice(&key))
}

impl ClusterAuthority {
    /// The cluster's CA from `store`, made (and stored) when there is none yet. Two servers
    /// starting at once write conditionally: the loser reads the winner's CA.
    pub fn load_or_create(
        store: &Arc<dyn Store>,
        secrets_key: &[u8; 32],
    ) -> Result<ClusterAuthority, CaError> {
        if let Some(record) = store.get_record(RECORD)? {
            return ClusterAuthority::open(store, &record.value, secrets_key);
        }
        let key = KeyPair::generate()?;
        let certificate = ca_params().self_signed(&key)?;
        let nonce: [u8; 12] = rand::random();
        let sealed = cipher(secrets_key)
            .encrypt(Nonce::from_slice(&nonce), key.serialize_der().as_slice())
            .map_err(|_| CaError::Unseal)?;
        let mut blob = nonce.to_vec();
        blob.extend(sealed);
        let stored = Stored {
            certificate_pem: certificate.pem(),
            sealed_key: base64::engine::general_purpose::STANDARD.encode(blob),
        };
        let value = serde_json::to_vec(&stored).map_err(|e| CaError::Corrupt(e.to_string()))?;
        if store.put_record(RECORD, &value, None)? {
            tracing::info!("made the cluster CA");
            return ClusterAuthority::open(store, &value, secrets_key);
        }
        let record = store
            .get_record(RECORD)?
            .ok_or_else(|| CaError::Corrupt("the record vanished".into()))?;
        ClusterAuthority::open(store, &record.value, secrets_key)
    }

    fn open(
        store: &Arc<dyn Store>,
        value: &[u8],
        secrets_key: &[u8; 32],
    ) -> Result<ClusterAuthority, CaError> {
        let stored: Stored =
            serde_json::from_slice(value).map_err(|e| CaError::Corrupt(e.to_string()))?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&stored.sealed_key)
            .map_err(|e| CaError::Corrupt(e.to_string()))?;
        if blob.len() < 12 {
            return Err(CaError::Corrupt("the sealed key is too short".into()));
        }
        let (nonce, sealed) = blob.split_at(12);
        let der = cipher(secrets_key)
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| CaError::Unseal)?;
        let key = KeyPair::try_from(der.as_slice())?;
        Ok(ClusterAuthority {
            certificate: CaCertificate::from_pem(&stored.certificate_pem)?,
            key,
            issued: IssuedCertificates::open(store.clone()),
            node_validity: NodeCertificateValidity::DEFAULT,
        })
    }

    /// This authority, signing node certificates for `validity`.
    pub fn with_node_validity(mut self, validity: NodeCertificateValidity) -> ClusterAuthority {
        self.node_validity = validity;
        self
    }

    /// How long the node certificates it signs live.
    pub fn node_validity(&self) -> NodeCertificateValidity {
        self.node_validity
    }

    /// The record of the node and client certificates it signed (see
    /// [`crate::issued_certificates`]).
    pub fn issued(&self) -> &IssuedCertificates {
        &self.issued
    }

    /// The CA's certificate (what clients trust and pin).
    pub fn certificate(&self) -> &CaCertificate {
        &self.certificate
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by the CA, with its key;
    /// the chain is the certificate then the CA (a joining node finds the CA there).
    pub fn issue(
        &self,
        common_name: &str,
        names: &[String],
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let mut params = leaf_params(common_name)?;
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(name.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let issuer = Issuer::new(ca_params(), &self.key);
        let certificate = params.signed_by(&key, &issuer)?;
        let chain = vec![certificate.der().clone(), self.certificate.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((chain, key))
    }

    /// A certificate for node `node`'s public key `public_key` (a raw P-256 point, which the
    /// node made and keeps the private half of), valid for `<node>.nodes.wasmpod` and
    /// `addresses`, for both ends of a connection, from a little before `now` for the node
    /// validity; the chain is the certificate then the CA.
    pub fn sign_node(
        &self,
        node: &str,
        public_key: &[u8],
        addresses: &[std::net::IpAddr],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SignedNode, CaError> {
        let key = SentPublicKey::new(public_key)?;
        let mut params = leaf_params(node)?;
        let (not_before, not_after) = node_validity_window(now, self.node_validity);
        set_validity(&mut params, not_before, not_after);
        params.subject_alt_names = std::iter::once(Ok(SanType::DnsName(
            wasmpod_api::node_tls::node_dns_name(node).try_into()?,
        )))
        .chain(addresses.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
        .collect::<Result<_, rcgen::Error>>()?;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let issuer = Issuer::new(ca_params(), &self.key);
        let serial = serial_of(&params);
        let certificate = params.signed_by(&key, &issuer)?;
        Ok(SignedNode {
            chain: vec![certificate.der().clone(), self.certificate.der().clone()],
            serial,
            not_before,
            not_after,
        })
    }

    /// A client certificate for tool `name`'s public key `public_key` (a raw P-256 point, which
    /// the tool made and keeps the private half of): named `<name>.clients.wasmpod` and nothing
    /// else, valid for client authentication only, from the day before `today` (clocks drift)
    /// for `valid_days` days. See [`wasmpod_api::client_certificate`].
    pub fn sign_client(
        &self,
        name: &wasmpod_api::Name,
        public_key: &[u8],
        valid_days: u32,
        today: chrono::NaiveDate,
    ) -> Result<SignedClient, CaError> {
        let max = wasmpod_api::client_certificate::MAX_VALID_DAYS;
        if valid_days == 0 || valid_days > max {
            return Err(CaError::Validity {
                asked: valid_days,
                max,
            });
        }
        let key = SentPublicKey::new(public_key)?;
        let dns_name = wasmpod_api::client_certificate::client_dns_name(name.as_str());
        let mut params = leaf_params(&dns_name)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.subject_alt_names = vec![SanType::DnsName(dns_name.clone().try_into()?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let not_before = today - chrono::Days::new(1);
        let not_after = today + chrono::Days::new(u64::from(valid_days));
        // Midnight UTC of a date (months and days fit a u8: 1..=12, 1..=31).
        let midnight = |date: chrono::NaiveDate| {
            use chrono::Datelike;
            rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
        };
        params.not_before = midnight(not_before);
        params.not_after = midnight(not_after);
        let issuer = Issuer::new(ca_params(), &self.key);
        let serial = serial_of(&params);
        let certificate = params.signed_by(&key, &issuer)?;
        Ok(SignedClient {
            dns_name,
            certificate: certificate.der().clone(),
            serial,
            not_after,
        })
    }

    /// What the control plane presents to a node's agent: a client certificate named
    /// [`wasmpod_api::node_tls::CONTROL_PLANE_NAME`], made on each start.
    pub fn control_plane_identity(&self) -> Result<wasmpod_api::node_tls::Identity, CaError> {
        let (chain, key) = self.issue(
            "wasmpod-control-plane",
            &[wasmpod_api::node_tls::CONTROL_PLANE_NAME.to_string()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok(wasmpod_api::node_tls::Identity { chain, key })
    }

    /// The rustls server config of an API server reachable at `names`.
    pub fn server_config(&self, names: &[String]) -> Result<rustls::ServerConfig, CaError> {
        let (chain, key) = self.issue("wasmpod-api", names, ExtendedKeyUsagePurpose::ServerAuth)?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[test]
    fn every_server_of_a_store_gets_the_same_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let key = [7u8; 32];
        let first = ClusterAuthority::load_or_create(&store, &key).expect("first");
        let second = ClusterAuthority::load_or_create(&store, &key).expect("second");
        assert_eq!(
            first.certificate().pin().expect("pin"),
            second.certificate().pin().expect("pin")
        );
        // The second server's certificates verify against the first's CA.
        let (chain, _) = second
            .issue(
                "wasmpod-api",
                &["127.0.0.1".into(), "localhost".into()],
                ExtendedKeyUsagePurpose::ServerAuth,
            )
            .expect("issue");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(first.certificate().der().clone()).expect("root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                &chain[0],
                &[],
                &rustls::pki_types::ServerName::try_from("localhost").expect("name"),
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .expect("the certificate verifies against the shared CA");
        // A node's certificate names that node only, for the key the node made.
        let node_key = KeyPair::generate().expect("key");
        let signed_node = first
            .sign_node(
                "node-a",
                node_key.public_key_raw(),
                &["10.0.0.7".parse().expect("ip")],
                chrono::Utc::now(),
            )
            .expect("sign");
        let node_chain = &signed_node.chain;
        // The serial recorded for revocation is the one a verifier reads from the certificate.
        assert_eq!(
            wasmpod_api::revocation::serial_hex(&node_chain[0]).as_deref(),
            Some(signed_node.serial.as_str())
        );
        assert_eq!(signed_node.serial.len(), 32);
        use wasmpod_api::node_tls::{certificate_names, is_node_certificate, CONTROL_PLANE_NAME};
        assert!(is_node_certificate(&node_chain[0], "node-a"));
        assert!(!is_node_certificate(&node_chain[0], "node-b"));
        assert!(!certificate_names(&node_chain[0], CONTROL_PLANE_NAME));
        assert!(first
            .sign_node("node-a", b"short", &[], chrono::Utc::now())
            .is_err());
        let control = first.control_plane_identity().expect("identity");
        assert!(certificate_names(&control.chain[0], CONTROL_PLANE_NAME));
        // Another secrets key cannot open the CA's key.
        assert!(matches!(
            ClusterAuthority::load_or_create(&store, &[8u8; 32]),
            Err(CaError::Unseal)
        ));
    }

    fn client_verifier(
        ca: &ClusterAuthority,
    ) -> Arc<dyn rustls::server::danger::ClientCertVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.certificate().der().clone()).expect("root");
        rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier")
    }

    #[test]
    fn a_client_certificate_names_the_tool_for_client_authentication_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let ca = ClusterAuthority::load_or_create(&store, &[7u8; 32]).expect("CA");
        let tool_key = KeyPair::generate().expect("key");
        let name = wasmpod_api::Name::try_from("prometheus").expect("name");
        let today = chrono::Utc::now().date_naive();
        let signed = ca
            .sign_client(&name, tool_key.public_key_raw(), 30, today)
            .expect("sign");
        assert_eq!(signed.dns_name, "prometheus.clients.wasmpod");
        assert_eq!(
            wasmpod_api::revocation::serial_hex(&signed.certificate).as_deref(),
            Some(signed.serial.as_str())
        );
        // The same key signed again gets another serial (revoking one leaves the other).
        let again = ca
            .sign_client(&name, tool_key.public_key_raw(), 30, today)
            .expect("sign");
        assert_ne!(again.serial, signed.serial);
        assert_eq!(signed.not_after, today + chrono::Days::new(30));
        use wasmpod_api::node_tls::{certificate_names, is_node_certificate, CONTROL_PLANE_NAME};
        assert!(certificate_names(
            &signed.certificate,
            "prometheus.clients.wasmpod"
        ));
        assert!(!certificate_names(&signed.certificate, CONTROL_PLANE_NAME));
        assert!(!is_node_certificate(&signed.certificate, "prometheus"));
        // A node's agent (a mutual-TLS server of the cluster CA) takes it as a client...
        let now = rustls::pki_types::UnixTime::now();
        client_verifier(&ca)
            .verify_client_cert(&signed.certificate, &[], now)
            .expect("a client certificate of the cluster CA");
        // ...but nobody takes it as a server: it is for client authentication only.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.certificate().der().clone()).expect("root");
        let servers = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier;
        let as_server = servers.verify_server_cert(
            &signed.certificate,
            &[],
            &rustls::pki_types::ServerName::try_from("prometheus.clients.wasmpod").expect("name"),
            &[],
            now,
        );
        assert!(
            as_server.is_err(),
            "a client certificate served as a server's"
        );
        // Its validity ends: one signed a year ago for a day is refused now.
        let old = ca
            .sign_client(
                &name,
                tool_key.public_key_raw(),
                1,
                today - chrono::Days::new(365),
            )
            .expect("sign");
        assert!(client_verifier(&ca)
            .verify_client_cert(&old.certificate, &[], now)
            .is_err());
        // Bounded validity, a real P-256 point.
        for days in [0, wasmpod_api::client_certificate::MAX_VALID_DAYS + 1] {
            assert!(matches!(
                ca.sign_client(&name, tool_key.public_key_raw(), days, today),
                Err(CaError::Validity { .. })
            ));
        }
        assert!(matches!(
            ca.sign_client(&name, b"short", 30, today),
            Err(CaError::PublicKey(_))
        ));
    }

    #[test]
    fn a_node_certificate_lives_as_long_as_the_node_validity_says() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let validity: NodeCertificateValidity = "30s".parse().expect("validity");
        let ca = ClusterAuthority::load_or_create(&store, &[7u8; 32])
            .expect("CA")
            .with_node_validity(validity);
        let node_key = KeyPair::generate().expect("key");
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let signed = ca
            .sign_node("node-a", node_key.public_key_raw(), &[], now)
            .expect("sign");
        assert_eq!(signed.not_after, now + chrono::Duration::seconds(30));
        assert_eq!(signed.not_before, now - chrono::Duration::seconds(3));
        // What the certificate itself says, as a peer's verifier reads it.
        let at = |time: chrono::DateTime<chrono::Utc>| {
            rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                time.timestamp() as u64,
            ))
        };
        let verifier = client_verifier(&ca);
        for (offset, valid) in [(-4, false), (-2, true), (0, true), (29, true), (31, false)] {
            let result = verifier.verify_client_cert(
                &signed.chain[0],
                &[],
                at(now + chrono::Duration::seconds(offset)),
            );
            assert_eq!(
                result.is_ok(),
                valid,
                "{offset} s after signing: {result:?}"
            );
        }
    }
}
