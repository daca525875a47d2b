//! The certificates of the gateway's TLS listener: those of the Secrets the cluster's Ingresses
//! name in `spec.tls`, picked by the client's SNI (an exact host first, then `*.` one label up).
//!
//! The node reads each such Secret by name (the API lets a node read a Secret only when an
//! Ingress of its namespace names it there) when the Ingresses change and every
//! [`REFRESH`], so a renewed certificate is served without a restart.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_api::cache::Store;
use wasmpod_api::{Client, Ingress, Kind, Secret, TLS_CERT_KEY, TLS_PRIVATE_KEY};

/// How often the certificates are read again, for Secrets changed in place.
pub const REFRESH: Duration = Duration::from_secs(2);

/// The certificates by host name (lower case); `*.example.com` is kept as `.example.com`.
#[derive(Debug, Default)]
pub struct Certificates {
    by_host: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Certificates {
    fn replace(&self, by_host: HashMap<String, Arc<CertifiedKey>>) {
        *self.by_host.write().unwrap_or_else(|p| p.into_inner()) = by_host;
    }

    fn lookup(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        by_host.get(&host).cloned().or_else(|| {
            let parent = host.find('.').map(|dot| &host[dot..])?;
            by_host.get(parent).cloned()
        })
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = hello.server_name()?;
        let found = self.lookup(host);
        if found.is_none() {
            tracing::debug!(%host, "no ingress certificate for this host");
        }
        found
    }
}

/// One Secret some Ingress names, and the hosts it serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Wanted {
    namespace: String,
    secret: String,
    hosts: BTreeSet<String>,
}

fn wanted(ingresses: &[Arc<Ingress>]) -> Vec<Wanted> {
    let mut merged: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for ingress in ingresses {
        for tls in &ingress.spec.tls {
            merged
                .entry((ingress.namespace().to_string(), tls.secret_name.clone()))
                .or_default()
                .extend(tls.hosts.iter().map(|h| h.to_ascii_lowercase()));
        }
    }
    let mut wanted: Vec<Wanted> = merged
        .into_iter()
        .map(|((namespace, secret), hosts)| Wanted {
            namespace,
            secret,
            hosts,
        })
        .collect();
    wanted.sort();
    wanted
}

/// Why a Secret's certificate cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read the secret: {0}")]
    Read(#[from] wasmpod_api::ClientError),
    #[error("the secret has no {0:?} key")]
    Missing(&'static str),
    #[error("{key}: {message}")]
    Pem { key: &'static str, message: String },
    #[error("the private key does not fit the certificate, or is of an unsupported type: {0}")]
    Key(rustls::Error),
}

/// The certificate chain and key of a TLS Secret.
pub fn certified_key(secret: &Secret) -> Result<CertifiedKey, CertificateError> {
    let values = secret.decoded();
    let cert = values
        .get(TLS_CERT_KEY)
        .ok_or(CertificateError::Missing(TLS_CERT_KEY))?;
    let key = values
        .get(TLS_PRIVATE_KEY)
        .ok_or(CertificateError::Missing(TLS_PRIVATE_KEY))?;
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError::Pem {
            key: TLS_CERT_KEY,
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertificateError::Pem {
            key: TLS_CERT_KEY,
            message: "holds no PEM certificate".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| CertificateError::Pem {
        key: TLS_PRIVATE_KEY,
        message: e.to_string(),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(CertificateError::Key)
}

/// Keeps `certificates` current with the Ingresses' TLS Secrets until `shutdown`.
pub async fn follow(
    ingresses: Store<Ingress>,
    client: Client,
    certificates: Arc<Certificates>,
    shutdown: CancellationToken,
) {
    let mut changes = ingresses.subscribe();
    // Failures already logged, so a broken Secret is reported once, not every refresh.
    let mut reported: HashMap<(String, String), String> = HashMap::new();
    loop {
        let mut by_host = HashMap::new();
        for want in wanted(&ingresses.list()) {
            let id = (want.namespace.clone(), want.secret.clone());
            let loaded = match client
                .get_typed::<Secret>(Kind::Secret, &want.namespace, &want.secret)
                .await
            {
                Ok(secret) => certified_key(&secret),
                Err(error) => Err(CertificateError::Read(error)),
            };
            match loaded {
                Ok(key) => {
                    reported.remove(&id);
                    let key = Arc::new(key);
                    for host in &want.hosts {
                        let host = host.strip_prefix('*').unwrap_or(host);
                        by_host.insert(host.to_string(), key.clone());
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    if reported.get(&id) != Some(&message) {
                        tracing::warn!(
                            namespace = %want.namespace,
                            secret = %want.secret,
                            %error,
                            "ingress certificate not served"
                        );
                        reported.insert(id, message);
                    }
                }
            }
        }
        certificates.replace(by_host);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = changes.changed() => {}
            _ = tokio::time::sleep(REFRESH) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// A TLS Secret with a self-signed certificate for `hosts`.
    pub fn tls_secret(hosts: &[&str]) -> Secret {
        let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names).expect("a certificate");
        secret_of(made.cert.pem(), made.signing_key.serialize_pem())
    }

    fn secret_of(cert: String, key: String) -> Secret {
        let b64 = |v: String| base64::engine::general_purpose::STANDARD.encode(v);
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Secret",
            "metadata": {"name": "site"},
            "data": {TLS_CERT_KEY: b64(cert), TLS_PRIVATE_KEY: b64(key)},
        }))
        .expect("a Secret")
    }

    #[test]
    fn an_exact_host_wins_over_a_wildcard_which_matches_one_label() {
        let wildcard = Arc::new(certified_key(&tls_secret(&["*.example.com"])).expect("key"));
        let exact = Arc::new(certified_key(&tls_secret(&["api.example.com"])).expect("key"));
        let certificates = Certificates::default();
        certificates.replace(HashMap::from([
            (".example.com".to_string(), wildcard.clone()),
            ("api.example.com".to_string(), exact.clone()),
        ]));
        let is = |host: &str, want: &Arc<CertifiedKey>| {
            certificates
                .lookup(host)
                .is_some_and(|found| Arc::ptr_eq(&found, want))
        };
        assert!(is("api.example.com", &exact));
        assert!(is("API.Example.com.", &exact));
        assert!(is("www.example.com", &wildcard));
        assert!(certificates.lookup("a.b.example.com").is_none());
        assert!(certificates.lookup("example.com").is_none());
        assert!(certificates.lookup("other.org").is_none());
    }

    #[test]
    fn a_broken_secret_says_which_key_is_wrong() {
        let good = tls_secret(&["a.example.com"]);
        let other = tls_secret(&["b.example.com"]);
        let mut missing = good.clone();
        missing.data.remove(TLS_PRIVATE_KEY);
        assert!(matches!(
            certified_key(&missing),
            Err(CertificateError::Missing(TLS_PRIVATE_KEY))
        ));
        let garbage = secret_of("not pem".into(), "not pem either".into());
        let error = certified_key(&garbage).expect_err("no PEM");
        assert!(error.to_string().contains(TLS_CERT_KEY), "{error}");
        let mut mismatched = good.clone();
        mismatched
            .data
            .insert(TLS_PRIVATE_KEY.into(), other.data[TLS_PRIVATE_KEY].clone());
        assert!(matches!(
            certified_key(&mismatched),
            Err(CertificateError::Key(_))
        ));
    }

    #[test]
    fn secrets_named_by_several_ingresses_serve_all_their_hosts() {
        let ingress = |ns: &str, secret: &str, hosts: &[&str]| {
            Arc::new(
                serde_json::from_value::<Ingress>(serde_json::json!({
                    "apiVersion": "wasmpod.dev/v1", "kind": "Ingress",
                    "metadata": {"name": format!("i-{secret}-{}", hosts.len()), "namespace": ns},
                    "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": "s"}}]}}],
                             "tls": [{"hosts": hosts, "secretName": secret}]},
                }))
                .expect("an Ingress"),
            )
        };
        let found = wanted(&[
            ingress("default", "site", &["A.example.com"]),
            ingress("default", "site", &["b.example.com"]),
            ingress("dev", "site", &["c.example.com"]),
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].namespace, "default");
        assert_eq!(
            found[0].hosts,
            BTreeSet::from(["a.example.com".to_string(), "b.example.com".to_string()])
        );
    }
}
