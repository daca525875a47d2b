//! The HTTP API client used by the CLI and the workers.

mod activate;
mod options;
mod streams;
pub use activate::{ActivateResponse, ActivatedTarget};
pub use options::{ListOptions, PropagationPolicy, VersionInfo, WriteMode};

use crate::endpoints::Endpoints;
use crate::object::{AnyObject, Kind};
use crate::watch::{ListResponse, WatchEvent};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered with an error; `message` is what it said.
    #[error("{message} (HTTP {status})")]
    Api {
        status: u16,
        reason: String,
        message: String,
    },
    #[error("cannot reach the wasmpod API at {server}: {source}")]
    Transport {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected answer from the API: {0}")]
    Decode(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What the server said, without the status (for a message shown where the status means
    /// nothing, such as a pod's status); any other error as it displays.
    pub fn server_message(&self) -> String {
        match self {
            ClientError::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A conditional write refused because the object changed since it was read (409): read it
    /// again and retry.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }
}

/// The longest text of a non-JSON error body kept in a message.
const MAX_PLAIN_ERROR: usize = 300;

/// The error a non-2xx answer is: the server's own message when the body is the API's JSON
/// error, else its text (trimmed, bounded), else what the status means and where. The status is
/// added once, by [`ClientError`]'s display.
fn api_error(code: reqwest::StatusCode, path: &str, text: &str) -> ClientError {
    let status = code.as_u16();
    if let Ok(body) = serde_json::from_str::<ApiErrorBody>(text) {
        return ClientError::Api {
            status,
            reason: body.error.reason,
            message: body.error.message,
        };
    }
    let text = text.trim();
    let message = if text.is_empty() {
        format!(
            "{}: the server gave no message for {path}",
            code.canonical_reason().unwrap_or("error")
        )
    } else {
        text.chars().take(MAX_PLAIN_ERROR).collect()
    };
    ClientError::Api {
        status,
        reason: "Unknown".into(),
        message,
    }
}

/// The JSON body of every error the API returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

/// What `apply` did with one object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyResult {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub action: ApplyAction,
}

/// What an apply did to one object (`created`, `configured` or `unchanged` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyAction {
    Created,
    Configured,
    Unchanged,
}

impl ApplyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyAction::Created => "created",
            ApplyAction::Configured => "configured",
            ApplyAction::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for ApplyAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyRequest {
    pub objects: Vec<AnyObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyResponse {
    pub results: Vec<ApplyResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobResponse {
    pub digest: String,
    pub size: u64,
}

/// An event a node reports about one of its pods.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventReport {
    pub involved_object: crate::ObjectReference,
    #[serde(rename = "type")]
    pub event_type: crate::EventType,
    pub reason: String,
    pub message: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleRequest {
    pub replicas: u32,
}

/// A node's identity, issued once by `POST /api/v1/nodes/{name}/credential`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCredential {
    /// The node this credential is bound to.
    pub node: String,
    /// The node's bearer token (256 random bits, hex).
    pub token: String,
    /// What the control plane presents to this node's agent (see [`crate::gateway_key`]).
    pub agent_key: String,
}

impl std::fmt::Debug for NodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredential")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Client {
    endpoints: std::sync::Arc<Endpoints>,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the API at `server`: one URL, or several separated by commas (the servers of
    /// one control plane), between which it fails over (see [`Endpoints`]).
    pub fn new(server: &str, token: Option<String>) -> Client {
        Client::with_ca(server, token, None)
    }

    /// As [`Client::new`], an https server verified against the cluster CA `ca` (and nothing
    /// else: without a CA every https server fails verification).
    pub fn with_ca(
        server: &str,
        token: Option<String>,
        ca: Option<&crate::tls::ClusterCa>,
    ) -> Client {
        let http = match crate::tls::http_client(ca) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::error!(%error, "cannot set up TLS for the API client");
                reqwest::Client::builder()
            }
        }
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default();
        Client {
            endpoints: std::sync::Arc::new(Endpoints::parse(server)),
            token,
            http,
        }
    }

    /// The server requests go to first (the one that answered last).
    pub fn server(&self) -> &str {
        self.endpoints.url(self.endpoints.current())
    }

    /// Every server this client may use.
    pub fn servers(&self) -> &[String] {
        self.endpoints.urls()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.server(), path)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends the request to the current server; if it cannot be reached (or, for a read, the
    /// connection breaks) or it answers 503, to the next one, and so on once around the list.
    /// A request that reached a server and got any other answer is not sent again.
    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let request = builder.build().map_err(|source| ClientError::Transport {
            server: self.server().to_string(),
            source,
        })?;
        let first = self.endpoints.current();
        let path = request
            .url()
            .as_str()
            .strip_prefix(self.endpoints.url(first))
            .unwrap_or_default()
            .to_string();
        let idempotent = matches!(
            *request.method(),
            reqwest::Method::GET | reqwest::Method::HEAD
        );
        let mut last = None;
        for index in self.endpoints.order() {
            let base = self.endpoints.url(index);
            let Some(mut attempt) = request.try_clone() else {
                // A streamed body cannot be sent twice: it goes to the current server only.
                return self.answer(self.http.execute(request).await, base).await;
            };
            if index != first {
                match reqwest::Url::parse(&format!("{base}{path}")) {
                    Ok(url) => *attempt.url_mut() = url,
                    Err(_) => continue,
                }
            }
            let outcome = self.http.execute(attempt).await;
            let retry = match &outcome {
                Err(e) => e.is_connect() || (idempotent && !e.is_builder()),
                Ok(response) => response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE,
            };
            if !retry || self.endpoints.urls().len() == 1 {
                if outcome.is_ok() {
                    self.endpoints.answered(index);
                }
                return self.answer(outcome, base).await;
            }
            tracing::debug!(server = base, "API server unavailable; trying the next one");
            last = Some((outcome, base));
        }
        match last {
            Some((outcome, base)) => self.answer(outcome, base).await,
            None => Err(ClientError::Decode(
                "no API server to send the request to".into(),
            )),
        }
    }

    /// A response as a result: errors carry the server's message.
    async fn answer(
        &self,
        outcome: Result<reqwest::Response, reqwest::Error>,
        server: &str,
    ) -> Result<reqwest::Response, ClientError> {
        let response = outcome.map_err(|source| ClientError::Transport {
            server: server.to_string(),
            source,
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let code = response.status();
        let path = response.url().path().to_string();
        let text = response.text().await.unwrap_or_default();
        Err(api_error(code, &path, &text))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = self.send(builder).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn object_path(kind: Kind, namespace: &str, name: &str) -> String {
        Self::subresource_path(kind, namespace, name, "")
    }

    /// The path of an object's subresource (`/status`, `/scale`, `/log` ...; `""`: the object).
    pub(crate) fn subresource_path(
        kind: Kind,
        namespace: &str,
        name: &str,
        subresource: &str,
    ) -> String {
        let name = urlencoding::encode(name);
        let plural = kind.plural();
        if kind.namespaced() {
            let namespace = urlencoding::encode(namespace);
            format!("/api/v1/{plural}/{name}{subresource}?namespace={namespace}")
        } else {
            format!("/api/v1/{plural}/{name}{subresource}")
        }
    }

    pub async fn apply(&self, objects: Vec<AnyObject>) -> Result<Vec<ApplyResult>, ClientError> {
        let response: ApplyResponse = self
            .json(
                self.request(reqwest::Method::POST, "/api/v1/apply")
                    .json(&ApplyRequest { objects }),
            )
            .await?;
        Ok(response.results)
    }

    /// Lists objects of `kind`; `namespace` None means every namespace.
    pub async fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<ListResponse, ClientError> {
        let mut path = format!("/api/v1/{}", kind.plural());
        if let Some(ns) = namespace.filter(|_| kind.namespaced()) {
            path.push_str(&format!("?namespace={}", urlencoding::encode(ns)));
        }
        self.json(self.request(reqwest::Method::GET, &path)).await
    }

    pub async fn list_typed<T: DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<T>, ClientError> {
        let list = self.list(kind, namespace).await?;
        list.items
            .iter()
            .map(|o| o.to_typed().map_err(|e| ClientError::Decode(e.to_string())))
            .collect()
    }

    pub async fn get(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<AnyObject, ClientError> {
        self.json(self.request(
            reqwest::Method::GET,
            &Self::object_path(kind, namespace, name),
        ))
        .await
    }

    pub async fn get_typed<T: DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<T, ClientError> {
        self.get(kind, namespace, name)
            .await?
            .to_typed()
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Deletes an object. Returns the server's message when the delete is deferred (a claim in
    /// use is only marked Terminating).
    pub async fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, ClientError> {
        self.delete_at(&Self::object_path(kind, namespace, name))
            .await
    }

    /// `DELETE path`: the server's message, if it sent one.
    pub(crate) async fn delete_at(&self, path: &str) -> Result<Option<String>, ClientError> {
        let response = self
            .send(self.request(reqwest::Method::DELETE, path))
            .await?;
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        Ok(answer
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string))
    }

    /// Replaces the `status` of an object (workers report pods and their node this way).
    pub async fn put_status<T: Serialize>(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        status: &T,
    ) -> Result<(), ClientError> {
        let path = Self::subresource_path(kind, namespace, name, "/status");
        self.send(self.request(reqwest::Method::PUT, &path).json(status))
            .await
            .map(|_| ())
    }

    /// Creates or replaces a system object (a node registering itself).
    pub async fn put_object(&self, object: &AnyObject) -> Result<AnyObject, ClientError> {
        let kind = object
            .kind()
            .ok_or_else(|| ClientError::Decode("object without a kind".into()))?;
        let path = Self::object_path(kind, object.namespace(), object.name());
        self.json(self.request(reqwest::Method::PUT, &path).json(object))
            .await
    }

    pub async fn report_event(&self, event: &EventReport) -> Result<(), ClientError> {
        self.send(
            self.request(reqwest::Method::POST, "/api/v1/events")
                .json(event),
        )
        .await
        .map(|_| ())
    }

    pub async fn scale(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) -> Result<(), ClientError> {
        let path = Self::subresource_path(kind, namespace, name, "/scale");
        self.send(
            self.request(reqwest::Method::POST, &path)
                .json(&ScaleRequest { replicas }),
        )
        .await
        .map(|_| ())
    }

    pub async fn logs(&self, namespace: &str, pod: &str) -> Result<String, ClientError> {
        let path = Self::subresource_path(Kind::Pod, namespace, pod, "/log");
        let response = self.send(self.request(reqwest::Method::GET, &path)).await?;
        response
            .text()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The live figures of the pods of `namespace` (every namespace: `None`), from their nodes.
    pub async fn pod_metrics(
        &self,
        namespace: Option<&str>,
    ) -> Result<crate::pod_metrics::PodMetricsList, ClientError> {
        let path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{}/podmetrics", urlencoding::encode(ns)),
            None => "/api/v1/podmetrics".to_string(),
        };
        self.json(self.request(reqwest::Method::GET, &path)).await
    }

    /// The resolved env, config, files and claims of a pod (for the node that runs it).
    pub async fn pod_config(
        &self,
        namespace: &str,
        pod: &str,
    ) -> Result<crate::resolved::ResolvedPodConfig, ClientError> {
        let path = Self::subresource_path(Kind::Pod, namespace, pod, "/config");
        self.json(self.request(reqwest::Method::GET, &path)).await
    }

    /// Asks for a credential bound to node `name` (with the join token, or the admin token).
    /// The answer is given once: the server keeps only the credential's SHA-256.
    pub async fn node_credential(&self, name: &str) -> Result<NodeCredential, ClientError> {
        let path = format!("/api/v1/nodes/{}/credential", urlencoding::encode(name));
        self.json(self.request(reqwest::Method::POST, &path)).await
    }

    /// A certificate the cluster CA signs for node `name`'s public key (see
    /// [`crate::node_tls`]); asked with the node's own credential.
    pub async fn node_certificate(
        &self,
        name: &str,
        request: &crate::node_tls::NodeCertificateRequest,
    ) -> Result<crate::node_tls::NodeCertificate, ClientError> {
        let path = format!("/api/v1/nodes/{}/certificate", urlencoding::encode(name));
        self.json(self.request(reqwest::Method::POST, &path).json(request))
            .await
    }

    /// A client certificate of the cluster CA for a tool's public key (see
    /// [`crate::client_certificate`]); the admin asks.
    pub async fn create_client_certificate(
        &self,
        request: &crate::client_certificate::ClientCertificateRequest,
    ) -> Result<crate::client_certificate::IssuedClientCertificate, ClientError> {
        self.json(
            self.request(reqwest::Method::POST, "/api/v1/clientcertificates")
                .json(request),
        )
        .await
    }

    /// Every client certificate the cluster CA issued, revoked or not (admin only).
    pub async fn client_certificates(
        &self,
    ) -> Result<Vec<crate::revocation::IssuedCertificate>, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/clientcertificates"))
            .await
    }

    /// The nodes' unexpired certificates (serial, end, revoked or not), by node then serial.
    pub async fn node_certificates(
        &self,
    ) -> Result<Vec<crate::revocation::IssuedCertificate>, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/nodecertificates"))
            .await
    }

    /// Revokes every certificate of client `name` (admin only): nodes refuse them within
    /// seconds.
    pub async fn revoke_client_certificate(
        &self,
        name: &str,
    ) -> Result<crate::revocation::Revoked, ClientError> {
        let path = format!("/api/v1/clientcertificates/{}", urlencoding::encode(name));
        self.json(self.request(reqwest::Method::DELETE, &path))
            .await
    }

    /// The revoked serials of the cluster CA's certificates not yet expired (what nodes refuse).
    pub async fn revoked_certificates(
        &self,
    ) -> Result<crate::revocation::RevokedCertificates, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/revokedcertificates"))
            .await
    }

    /// Creates an API token with a role; the answer holds its secret, shown this once.
    pub async fn create_token(
        &self,
        request: &crate::tokens::TokenRequest,
    ) -> Result<crate::tokens::IssuedToken, ClientError> {
        self.json(
            self.request(reqwest::Method::POST, "/api/v1/tokens")
                .json(request),
        )
        .await
    }

    /// The API tokens (names, roles, namespaces; never their secrets).
    pub async fn tokens(&self) -> Result<Vec<crate::tokens::TokenInfo>, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/tokens"))
            .await
    }

    /// Deletes (revokes) the API token `name`.
    pub async fn delete_token(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/tokens/{}", urlencoding::encode(name));
        self.send(self.request(reqwest::Method::DELETE, &path))
            .await
            .map(|_| ())
    }

    /// The controller leader and the live API servers.
    pub async fn cluster(&self) -> Result<crate::cluster::ClusterStatus, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/cluster"))
            .await
    }

    pub async fn blob_exists(&self, digest: &str) -> Result<bool, ClientError> {
        match self
            .send(self.request(reqwest::Method::HEAD, &format!("/api/v1/blobs/{digest}")))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads component bytes; the answer is the content digest (`sha256:<hex>`).
    pub async fn upload_blob(&self, bytes: Vec<u8>) -> Result<BlobResponse, ClientError> {
        self.json(
            self.request(reqwest::Method::POST, "/api/v1/blobs")
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await
    }

    pub async fn get_blob(&self, digest: &str) -> Result<Bytes, ClientError> {
        let response = self
            .send(self.request(reqwest::Method::GET, &format!("/api/v1/blobs/{digest}")))
            .await?;
        response
            .bytes()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Streams every change to `kind` after `revision`. The stream ends when the server closes
    /// it; a 410 error means the revision is too old and the caller must list again.
    pub async fn watch(
        &self,
        kind: Kind,
        revision: u64,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ClientError>> + Send + 'static, ClientError>
    {
        let path = format!("/api/v1/{}?watch=true&revision={revision}", kind.plural());
        self.watch_path(&path).await
    }

    /// The watch at `path` (a `?watch=true` route), its lines decoded as events.
    async fn watch_path(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ClientError>> + Send + 'static, ClientError>
    {
        let response = self.send(self.request(reqwest::Method::GET, path)).await?;
        let bytes = response.bytes_stream();
        let stream = futures::stream::unfold(
            (bytes, BytesMut::new(), false),
            |(mut bytes, mut buffer, done)| async move {
                if done {
                    return None;
                }
                loop {
                    if let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                        let line = buffer.split_to(pos + 1);
                        let line = &line[..line.len() - 1];
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        let event = serde_json::from_slice::<WatchEvent>(line)
                            .map_err(|e| ClientError::Decode(e.to_string()));
                        return Some((event, (bytes, buffer, false)));
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                        Some(Err(e)) => {
                            return Some((
                                Err(ClientError::Decode(e.to_string())),
                                (bytes, buffer, true),
                            ))
                        }
                        None => return None,
                    }
                }
            },
        );
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subresource_paths_follow_the_name_whatever_it_is() {
        // A name that is also a segment of the path ("api", "v1") must not be mistaken for it.
        assert_eq!(
            Client::subresource_path(Kind::Deployment, "default", "api", "/scale"),
            "/api/v1/deployments/api/scale?namespace=default"
        );
        assert_eq!(
            Client::subresource_path(Kind::Node, "", "v1", "/status"),
            "/api/v1/nodes/v1/status"
        );
        assert_eq!(
            Client::object_path(Kind::Pod, "a b", "p"),
            "/api/v1/pods/p?namespace=a%20b"
        );
    }

    #[test]
    fn an_error_shows_the_servers_message_once_with_the_status() {
        let json = r#"{"error": {"code": 404, "reason": "NotFound", "message": "deployments \"web\" not found"}}"#;
        let e = api_error(
            reqwest::StatusCode::NOT_FOUND,
            "/api/v1/deployments/web",
            json,
        );
        assert_eq!(e.to_string(), r#"deployments "web" not found (HTTP 404)"#);
        let empty = api_error(reqwest::StatusCode::NOT_FOUND, "/api/v1/nothing", "");
        assert_eq!(
            empty.to_string(),
            "Not Found: the server gave no message for /api/v1/nothing (HTTP 404)"
        );
        let plain = api_error(
            reqwest::StatusCode::BAD_GATEWAY,
            "/x",
            &format!(" {} \n", "b".repeat(400)),
        );
        assert_eq!(plain.to_string(), format!("{} (HTTP 502)", "b".repeat(300)));
        assert!(!empty.to_string().contains("HTTP 404 (HTTP 404)"));
    }

    #[test]
    fn apply_actions_keep_their_wire_names() {
        for action in [
            ApplyAction::Created,
            ApplyAction::Configured,
            ApplyAction::Unchanged,
        ] {
            let wire = serde_json::to_value(action).expect("serialize");
            assert_eq!(wire, action.as_str());
            assert_eq!(
                serde_json::from_value::<ApplyAction>(wire).ok(),
                Some(action)
            );
        }
    }
}
