//! The OCI distribution API, as a registry client: resolve a tag to its manifest digest, pull a
//! manifest and a blob by digest (every byte checked against its digest, sizes bounded), push
//! blobs (HEAD to skip what exists, then a monolithic upload: POST `/blobs/uploads/`, PUT
//! `?digest=`) and a manifest.
//!
//! Credentials go out as HTTP basic auth. A registry that answers 401 with a `Bearer` challenge
//! gets the token flow (GET the realm with `service` and `scope`, basic auth on that request),
//! and the request is sent again with the token.

use super::auth::Credentials;
use super::manifest::{sha256_digest, ManifestError, MANIFEST_MEDIA_TYPE};
use super::reference::Reference;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// The largest manifest read (OCI registries cap theirs at 4 MiB).
const MAX_MANIFEST: usize = 4 << 20;
/// The largest component pulled (the API server's upload limit).
pub const MAX_LAYER: usize = 512 << 20;
/// Upload chunk size, for progress.
const CHUNK: usize = 256 << 10;

/// Called with (bytes sent, total) as a blob uploads.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OciError {
    #[error("cannot reach registry {registry}: {message}")]
    Unreachable { registry: String, message: String },
    #[error("{reference}: not found (the registry answered {status}: {answer})")]
    NotFound {
        reference: String,
        status: u16,
        answer: String,
    },
    #[error("{reference}: the registry refused the credentials ({status}: {answer})")]
    Unauthorized {
        reference: String,
        status: u16,
        answer: String,
    },
    #[error("{reference}: the registry answered {status}: {answer}")]
    Status {
        reference: String,
        status: u16,
        answer: String,
    },
    #[error(
        "{reference}: the {what} does not match digest {expected} (the registry sent {actual})"
    )]
    Digest {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: ManifestError,
    },
    #[error("{reference}: the {what} is larger than {limit} bytes")]
    TooLarge {
        reference: String,
        what: &'static str,
        limit: usize,
    },
    #[error("{reference}: {message}")]
    Protocol { reference: String, message: String },
}

impl OciError {
    /// Unknown tag or digest.
    pub fn is_not_found(&self) -> bool {
        matches!(self, OciError::NotFound { .. })
    }
}

/// A registry client shared by every pull and push of a process.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    insecure: Arc<Vec<String>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client that speaks HTTPS (the public web roots) to every registry except those in
    /// `insecure` (`host:port`), which it speaks plain HTTP to.
    pub fn new(insecure: &[String]) -> RegistryClient {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let builder = match rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        {
            Ok(config) => reqwest::Client::builder()
                .use_preconfigured_tls(config.with_root_certificates(roots).with_no_client_auth()),
            Err(error) => {
                tracing::error!(%error, "cannot set up TLS for registries");
                reqwest::Client::builder()
            }
        };
        let http = builder
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("wasmpod/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        RegistryClient {
            http,
            insecure: Arc::new(insecure.to_vec()),
        }
    }

    /// Whether `registry` is spoken to over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure.iter().any(|r| r == registry)
    }

    /// A session with one repository of `reference`'s registry.
    pub fn repository(
        &self,
        reference: &Reference,
        credentials: Option<Credentials>,
    ) -> Repository {
        let scheme = if self.is_insecure(&reference.registry) {
            "http"
        } else {
            "https"
        };
        Repository {
            http: self.http.clone(),
            base: format!("{scheme}://{}", reference.registry),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            credentials,
            token: Arc::new(Mutex::new(None)),
        }
    }
}

/// One repository of one registry, with its credentials and (once issued) its bearer token.
#[derive(Clone)]
pub struct Repository {
    http: reqwest::Client,
    base: String,
    registry: String,
    repository: String,
    credentials: Option<Credentials>,
    token: Arc<Mutex<Option<String>>>,
}

impl Repository {
    fn name(&self, target: &str) -> String {
        let sep = if target.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        format!("{}/{}{sep}{target}", self.registry, self.repository)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }

    fn unreachable(&self, error: &reqwest::Error) -> OciError {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        OciError::Unreachable {
            registry: self.registry.clone(),
            message,
        }
    }

    /// Sends the request `make` builds, with credentials; on a `Bearer` challenge gets a token
    /// and sends it once more.
    async fn send(
        &self,
        target: &str,
        push: bool,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OciError> {
        let token = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let request = match (&token, &self.credentials) {
            (Some(token), _) => make().bearer_auth(token),
            (None, Some(c)) => make().basic_auth(&c.username, Some(&c.password)),
            (None, None) => make(),
        };
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Some(params) = challenge
            .strip_prefix("Bearer ")
            .or_else(|| challenge.strip_prefix("bearer "))
            .filter(|_| token.is_none())
        else {
            return Err(self.refused(target, response).await);
        };
        let token = self.fetch_token(target, params, push).await?;
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        let response = make()
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(self.refused(target, response).await);
        }
        Ok(response)
    }

    async fn refused(&self, target: &str, response: reqwest::Response) -> OciError {
        let status = response.status().as_u16();
        OciError::Unauthorized {
            reference: self.name(target),
            status,
            answer: answer(response).await,
        }
    }

    async fn fetch_token(
        &self,
        target: &str,
        params: &str,
        push: bool,
    ) -> Result<String, OciError> {
        let params = challenge_params(params);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let protocol = |message: String| OciError::Protocol {
            reference: self.name(target),
            message,
        };
        let realm =
            get("realm").ok_or_else(|| protocol("a Bearer challenge without a realm".into()))?;
        let actions = if push { "pull,push" } else { "pull" };
        let scope =
            get("scope").unwrap_or_else(|| format!("repository:{}:{actions}", self.repository));
        let mut query = vec![("scope", scope)];
        if let Some(service) = get("service") {
            query.push(("service", service));
        }
        let mut request = self.http.get(&realm).query(&query);
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(self.refused(target, response).await);
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| protocol(format!("the token service {realm} answered no token: {e}")))?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| protocol(format!("the token service {realm} answered no token")))
    }

    async fn check(
        &self,
        target: &str,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, OciError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let reference = self.name(target);
        let code = status.as_u16();
        let answer = answer(response).await;
        Err(match code {
            404 => OciError::NotFound {
                reference,
                status: code,
                answer,
            },
            401 | 403 => OciError::Unauthorized {
                reference,
                status: code,
                answer,
            },
            _ => OciError::Status {
                reference,
                status: code,
                answer,
            },
        })
    }

    /// The manifest that `target` (a tag or a digest) names, and its digest (checked against
    /// `target` when that is a digest).
    pub async fn manifest(&self, target: &str) -> Result<(String, Vec<u8>), OciError> {
        let url = self.url(&format!("manifests/{target}"));
        let response = self
            .send(target, false, || {
                self.http
                    .get(&url)
                    .header(reqwest::header::ACCEPT, MANIFEST_MEDIA_TYPE)
            })
            .await?;
        let response = self.check(target, response).await?;
        let bytes = self
            .read(target, "manifest", response, MAX_MANIFEST)
            .await?;
        let digest = sha256_digest(&bytes);
        if target.starts_with("sha256:") && digest != target {
            return Err(OciError::Digest {
                reference: self.name(target),
                what: "manifest",
                expected: target.to_string(),
                actual: digest,
            });
        }
        Ok((digest, bytes))
    }

    /// The Wasm layer of the manifest `target` names: the manifest's digest and the layer.
    pub async fn wasm_layer(&self, target: &str) -> Result<(String, super::Pulled), OciError> {
        let (digest, bytes) = self.manifest(target).await?;
        let pulled = super::manifest::wasm_layer(&bytes).map_err(|source| OciError::Manifest {
            reference: self.name(target),
            source,
        })?;
        Ok((digest, pulled))
    }

    /// The blob `digest`, checked against it.
    pub async fn blob(&self, digest: &str) -> Result<Vec<u8>, OciError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(digest, false, || self.http.get(&url)).await?;
        let response = self.check(digest, response).await?;
        let bytes = self.read(digest, "layer", response, MAX_LAYER).await?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::Digest {
                reference: self.name(digest),
                what: "layer",
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    async fn read(
        &self,
        target: &str,
        what: &'static str,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, OciError> {
        let too_large = || OciError::TooLarge {
            reference: self.name(target),
            what,
            limit,
        };
        if response.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(&e))? {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Whether the registry has blob `digest`.
    pub async fn has_blob(&self, digest: &str) -> Result<bool, OciError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send(digest, true, || self.http.head(&url)).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.check(digest, response).await.map(|_| true)
    }

    /// Uploads `bytes` as blob `digest` unless the registry has it. True when it was uploaded.
    pub async fn push_blob(
        &self,
        digest: &str,
        bytes: Bytes,
        progress: Option<Progress>,
    ) -> Result<bool, OciError> {
        if self.has_blob(digest).await? {
            if let Some(p) = &progress {
                p(bytes.len() as u64, bytes.len() as u64);
            }
            return Ok(false);
        }
        let start = self.url("blobs/uploads/");
        let response = self
            .send(digest, true, || {
                self.http
                    .post(&start)
                    .header(reqwest::header::CONTENT_LENGTH, 0)
            })
            .await?;
        let response = self.check(digest, response).await?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::Protocol {
                reference: self.name(digest),
                message: "the upload answer has no Location".into(),
            })?
            .to_string();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let mut url = reqwest::Url::parse(&location).map_err(|e| OciError::Protocol {
            reference: self.name(digest),
            message: format!("the upload Location {location:?} is not a URL: {e}"),
        })?;
        url.query_pairs_mut().append_pair("digest", digest);
        let total = bytes.len() as u64;
        let response = self
            .send(digest, true, || {
                let chunks: Vec<Bytes> = (0..bytes.len())
                    .step_by(CHUNK)
                    .map(|at| bytes.slice(at..(at + CHUNK).min(bytes.len())))
                    .collect();
                let progress = progress.clone();
                let mut sent = 0u64;
                let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
                    sent += chunk.len() as u64;
                    if let Some(p) = &progress {
                        p(sent, total);
                    }
                    Ok::<Bytes, std::io::Error>(chunk)
                }));
                self.http
                    .put(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, total)
                    .body(reqwest::Body::wrap_stream(stream))
            })
            .await?;
        self.check(digest, response).await?;
        Ok(true)
    }

    /// Uploads `manifest` under `tag`; returns its digest.
    pub async fn push_manifest(&self, tag: &str, manifest: &[u8]) -> Result<String, OciError> {
        let url = self.url(&format!("manifests/{tag}"));
        let body = Bytes::copy_from_slice(manifest);
        let response = self
            .send(tag, true, || {
                self.http
                    .put(&url)
                    .header(reqwest::header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
                    .body(body.clone())
            })
            .await?;
        self.check(tag, response).await?;
        Ok(sha256_digest(manifest))
    }
}

/// The registry's answer, for an error message: its body, trimmed and bounded.
async fn answer(response: reqwest::Response) -> String {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let text = text.trim();
    let text: String = text.chars().take(300).collect();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("no body").to_string()
    } else {
        text
    }
}

/// `realm="https://a/token",service="reg",scope="repository:x:pull"` -> pairs.
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, n)) => (v.to_string(), n),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v.trim().to_string(), n),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse_with_commas_in_quotes() {
        let p = challenge_params(
            r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            p,
            [
                (
                    "realm".to_string(),
                    "https://auth.example/token".to_string()
                ),
                ("service".to_string(), "registry.example".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string()),
            ]
        );
    }

    /// A registry that wants a bearer token from its token service (as Docker Hub, GHCR and
    /// Harbor do): one plain-HTTP server plays both, one request per connection.
    async fn token_registry(manifest: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (realm, log) = (format!("http://{host}/token"), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = request.lines().next().unwrap_or_default().to_string();
                let auth = request
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or_default()
                    .to_string();
                log.lock().unwrap().push(format!("{line} | {auth}"));
                let (status, headers, body): (&str, String, Vec<u8>) = if line
                    .starts_with("GET /token?")
                {
                    // base64("ci:pw")
                    if auth == "Basic Y2k6cHc=" && line.contains("scope=repository%3Aa%3Apull") {
                        ("200 OK", String::new(), br#"{"token":"T0K"}"#.to_vec())
                    } else {
                        (
                            "401 Unauthorized",
                            String::new(),
                            b"bad credentials".to_vec(),
                        )
                    }
                } else if auth == "Bearer T0K" {
                    ("200 OK", String::new(), manifest.to_vec())
                } else {
                    (
                        "401 Unauthorized",
                        format!("www-authenticate: Bearer realm=\"{realm}\",service=\"test\"\r\n"),
                        b"{}".to_vec(),
                    )
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            }
        });
        (host, seen)
    }

    #[tokio::test]
    async fn a_bearer_challenge_is_answered_with_a_token_from_the_realm() {
        let (host, seen) = token_registry(b"{\"schemaVersion\":2}").await;
        let client = RegistryClient::new(std::slice::from_ref(&host));
        let reference = Reference::parse(&format!("{host}/a:v1")).unwrap();
        let credentials = Credentials {
            username: "ci".into(),
            password: "pw".into(),
        };
        let repo = client.repository(&reference, Some(credentials));
        let (digest, bytes) = repo.manifest("v1").await.unwrap();
        assert_eq!(bytes, b"{\"schemaVersion\":2}");
        assert_eq!(digest, sha256_digest(&bytes));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[1].starts_with("GET /token?"), "{seen:?}");
        assert!(seen[2].ends_with("| Bearer T0K"), "{seen:?}");

        let wrong = Credentials {
            username: "ci".into(),
            password: "nope".into(),
        };
        let e = client
            .repository(&reference, Some(wrong))
            .manifest("v1")
            .await
            .unwrap_err();
        assert!(
            matches!(e, OciError::Unauthorized { status: 401, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("bad credentials"), "{e}");
    }

    #[test]
    fn only_listed_registries_are_plain_http() {
        let client = RegistryClient::new(&["127.0.0.1:5000".to_string()]);
        let r = Reference::parse("127.0.0.1:5000/a:v1").unwrap();
        assert!(client.repository(&r, None).base.starts_with("http://"));
        let other = Reference::parse("127.0.0.1:5001/a:v1").unwrap();
        assert!(client.repository(&other, None).base.starts_with("https://"));
    }
}
