//! Who is asking ([`Identity`], from the bearer token) and whether they may ([`authorize`]), decided
//! after routing from the route the router matched and its decoded parameters — never from the
//! raw path text, so `/api/v1/%73ecrets` is the Secrets route for the authorizer as for the handler.
//!
//! - The admin token may do everything.
//! - The join token only bootstraps: it may ask for a node credential.
//! - A node credential (see [`crate::node_credentials`]) may do what a node needs and no more,
//!   like Kubernetes' Node authorizer: read pods, services, ingresses, nodes, claims, configmaps
//!   and blobs; write its own Node and its status; write the status and read the resolved config
//!   only of pods bound to it; report events about itself and its pods. Never Secrets, but for
//!   those an Ingress names in `spec.tls` (its gateway serves the certificate).
//! - The peer token (another API server, see [`crate::peer`]) may read blobs and store its
//!   copy of an upload; nothing else.
//! - An API token (see [`crate::user_tokens`]) may do what its role allows, in its namespace when
//!   it has one: `admin` everything; `view` reads (get, list, watch, logs) every kind but Secrets
//!   — a Secret is refused whole, keys too, as Kubernetes' `view` role does, because get, list
//!   and watch all serve the stored object and one rule at the door covers every route that does
//!   — and never a pod's resolved config (it holds secret values); `edit` reads as `view` plus
//!   Secrets and resolved configs, and writes (apply, delete, scale, upload components) the
//!   workload, config and secret kinds of its namespace(s): never nodes, namespaces, events,
//!   tokens, credentials or statuses. A namespaced token reads and writes only that namespace
//!   (a list across every namespace is refused) and no cluster-scoped kind but its own Namespace.
//!   Apply names no kind in its route: its handler checks each object with [`authorize`].
//! - Client certificates for tools (`POST /api/v1/clientcertificates`, see
//!   [`super::client_certificate`]; listing and revoking them, see
//!   [`super::certificate_revocation`]): the admin and `admin`-role tokens only. Nodes read the
//!   revoked serials (`GET /api/v1/revokedcertificates`). The nodes' certificates
//!   (`GET /api/v1/nodecertificates`: serials and ends, no key) are read as the nodes are.
//!
//! `/healthz` and `/version` answer everyone, as Kubernetes' `/version` does. Every API token
//! and the admin may ask who they are (`GET /api/v1/whoami`, the dashboard's first call).
//!
//! With no tokens configured (a loopback-only `wasmpod up`) a request without a node credential
//! is the admin; nodes still get credentials there, so forwarding between gateways is authenticated.

use super::{ApiError, AppState};
use crate::typed::TypedRegistry;
use crate::user_tokens::TokenHolder;
use axum::extract::{MatchedPath, Query, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt;
use wasmpod_api::tokens::Role;
use wasmpod_api::{Kind, Pod, DEFAULT_NAMESPACE};

#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub admin_token: Option<String>,
    pub join_token: Option<String>,
}

impl Auth {
    /// No tokens: the API is open (loopback `up`).
    fn open(&self) -> bool {
        self.admin_token.is_none() && self.join_token.is_none()
    }
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Admin,
    /// The join token: it may only ask for a node credential.
    Bootstrap,
    /// A node, by the credential bound to its name.
    Node(String),
    /// Another API server of this control plane (the peer token, see [`crate::peer`]).
    Peer,
    /// An API token with a role (see [`crate::user_tokens`]).
    User(TokenHolder),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Admin => f.write_str("the admin"),
            Identity::Bootstrap => f.write_str("the join token"),
            Identity::Node(name) => write!(f, "node {name:?}"),
            Identity::Peer => f.write_str("a peer server"),
            Identity::User(holder) => {
                write!(f, "token {:?} (role {}", holder.name, holder.role)?;
                if let Some(namespace) = &holder.namespace {
                    write!(f, ", namespace {namespace}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// What a route does, as the authorizer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Health,
    Get,
    List,
    Watch,
    /// PUT of a whole object (only Nodes take it).
    Update,
    UpdateStatus,
    Delete,
    Scale,
    Activate,
    Logs,
    ReadConfig,
    /// The live figures of pods, from their nodes (`/api/v1/podmetrics`).
    ReadPodMetrics,
    /// The server's Prometheus metrics (`GET /metrics`).
    ReadMetrics,
    Apply,
    UploadBlob,
    ReadBlob,
    ReportEvent,
    RequestCredential,
    /// A node asking the cluster CA to sign its public key.
    RequestCertificate,
    /// The controller leader and the live API servers (`GET /api/v1/cluster`).
    ReadCluster,
    /// A peer storing its copy of an upload (`PUT /api/v1/blobs/{digest}`).
    ReplicateBlob,
    CreateToken,
    ListTokens,
    DeleteToken,
    /// The cluster CA signing a tool's client certificate (`POST /api/v1/clientcertificates`).
    CreateClientCertificate,
    /// Who the caller is and which namespaces it may read (`GET /api/v1/whoami`).
    WhoAmI,
    /// Listing the tools' client certificates (`GET /api/v1/clientcertificates`).
    ListClientCertificates,
    /// Revoking a tool's client certificates (`DELETE /api/v1/clientcertificates/NAME`).
    RevokeClientCertificate,
    /// The revoked serials nodes refuse (`GET /api/v1/revokedcertificates`).
    ReadRevokedCertificates,
}

impl Verb {
    /// The verb as a metric label value: a fixed set, whatever the request.
    pub fn label(self) -> &'static str {
        match self {
            Verb::Health => "health",
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Update => "update",
            Verb::UpdateStatus => "update_status",
            Verb::Delete => "delete",
            Verb::Scale => "scale",
            Verb::Activate => "activate",
            Verb::Logs => "logs",
            Verb::ReadConfig => "read_config",
            Verb::ReadPodMetrics => "read_pod_metrics",
            Verb::ReadMetrics => "read_metrics",
            Verb::Apply => "apply",
            Verb::UploadBlob => "upload_blob",
            Verb::ReadBlob => "read_blob",
            Verb::ReportEvent => "report_event",
            Verb::RequestCredential => "request_credential",
            Verb::RequestCertificate => "request_certificate",
            Verb::ReadCluster => "read_cluster",
            Verb::ReplicateBlob => "replicate_blob",
            Verb::CreateToken => "create_token",
            Verb::ListTokens => "list_tokens",
            Verb::DeleteToken => "delete_token",
            Verb::CreateClientCertificate => "create_client_certificate",
            Verb::WhoAmI => "who_am_i",
            Verb::ListClientCertificates => "list_client_certificates",
            Verb::RevokeClientCertificate => "revoke_client_certificate",
            Verb::ReadRevokedCertificates => "read_revoked_certificates",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Health => "health",
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Update => "update",
            Verb::UpdateStatus => "update the status of",
            Verb::Delete => "delete",
            Verb::Scale => "scale",
            Verb::Activate => "activate",
            Verb::Logs => "read the logs of",
            Verb::ReadConfig => "read the resolved config of",
            Verb::ReadPodMetrics => "read the figures of",
            Verb::ReadMetrics => "read the server's metrics",
            Verb::Apply => "apply",
            Verb::UploadBlob => "upload components",
            Verb::ReadBlob => "read components",
            Verb::ReportEvent => "report events",
            Verb::RequestCredential => "request a credential for",
            Verb::RequestCertificate => "request a certificate for",
            Verb::ReadCluster => "read the cluster's leader and servers",
            Verb::ReplicateBlob => "replicate components",
            Verb::CreateToken => "create tokens",
            Verb::ListTokens => "list tokens",
            Verb::DeleteToken => "delete tokens",
            Verb::CreateClientCertificate => "create client certificates",
            Verb::WhoAmI => "ask who it is",
            Verb::ListClientCertificates => "list client certificates",
            Verb::RevokeClientCertificate => "revoke client certificates",
            Verb::ReadRevokedCertificates => "read the revoked certificates",
        })
    }
}

/// One request as the authorizer sees it: a verb on a kind (and object), from the matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub verb: Verb,
    pub kind: Option<Kind>,
    pub namespace: String,
    pub name: Option<String>,
    /// A list or watch of a namespaced kind across every namespace (no `namespace` asked).
    pub all_namespaces: bool,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verb)?;
        if self.all_namespaces {
            if let Some(kind) = self.kind {
                return write!(f, " {} in every namespace", kind.plural());
            }
        }
        if let Some(kind) = self.kind {
            write!(f, " {}", kind.plural())?;
        }
        if let Some(name) = &self.name {
            match self.kind {
                Some(kind) if kind.namespaced() => write!(f, " {}/{name}", self.namespace)?,
                _ => write!(f, " {name}")?,
            }
        }
        Ok(())
    }
}

/// Why a request is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::Unauthorized => ApiError::unauthorized(),
            Refusal::Forbidden(m) => ApiError::forbidden(m),
            Refusal::NotFound(m) => ApiError::not_found(m),
            Refusal::BadRequest(m) => ApiError::bad_request(m),
        }
    }
}

#[derive(Deserialize)]
struct NamespaceQuery {
    namespace: Option<String>,
    #[serde(default)]
    watch: bool,
}

/// The action of a request on `route` (the matched route template) with its decoded `params`.
pub fn action(
    route: &str,
    method: &Method,
    params: &[(String, String)],
    namespace: Option<String>,
    watch: bool,
) -> Result<Action, Refusal> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let kind = match param("plural") {
        Some(plural) => Some(Kind::from_plural(&plural).ok_or_else(|| {
            Refusal::NotFound(format!("the server has no resource type {plural:?}"))
        })?),
        None => None,
    };
    let (verb, kind) = match (route, method.as_str()) {
        ("/healthz", _) => (Verb::Health, None),
        // The server's version is public, as in Kubernetes.
        ("/version", "GET") => (Verb::Health, None),
        ("/api/v1/apply", "POST") => (Verb::Apply, None),
        ("/api/v1/blobs", "POST") => (Verb::UploadBlob, None),
        ("/api/v1/cluster", "GET") => (Verb::ReadCluster, None),
        ("/api/v1/whoami", "GET") => (Verb::WhoAmI, None),
        ("/metrics", "GET") => (Verb::ReadMetrics, None),
        ("/api/v1/podmetrics" | "/api/v1/namespaces/{namespace}/podmetrics", "GET") => {
            (Verb::ReadPodMetrics, Some(Kind::Pod))
        }
        ("/api/v1/tokens", "POST") => (Verb::CreateToken, None),
        ("/api/v1/tokens", "GET") => (Verb::ListTokens, None),
        ("/api/v1/tokens/{name}", "DELETE") => (Verb::DeleteToken, None),
        ("/api/v1/clientcertificates", "POST") => (Verb::CreateClientCertificate, None),
        ("/api/v1/clientcertificates", "GET") => (Verb::ListClientCertificates, None),
        ("/api/v1/clientcertificates/{name}", "DELETE") => (Verb::RevokeClientCertificate, None),
        ("/api/v1/revokedcertificates", "GET") => (Verb::ReadRevokedCertificates, None),
        // The nodes' certificates (serial, end) are read as the nodes are.
        ("/api/v1/nodecertificates", "GET") => (Verb::List, Some(Kind::Node)),
        ("/api/v1/blobs/{digest}", "GET" | "HEAD") => (Verb::ReadBlob, None),
        ("/api/v1/blobs/{digest}", "PUT") => (Verb::ReplicateBlob, None),
        ("/api/v1/events", "POST") => (Verb::ReportEvent, Some(Kind::Event)),
        ("/api/v1/events", "GET") if watch => (Verb::Watch, Some(Kind::Event)),
        ("/api/v1/events", "GET") => (Verb::List, Some(Kind::Event)),
        ("/api/v1/{plural}", "GET") if watch => (Verb::Watch, kind),
        ("/api/v1/{plural}", "GET") => (Verb::List, kind),
        ("/api/v1/{plural}/{name}", "GET" | "HEAD") => (Verb::Get, kind),
        ("/api/v1/{plural}/{name}", "PUT") => (Verb::Update, kind),
        ("/api/v1/{plural}/{name}", "DELETE") => (Verb::Delete, kind),
        ("/api/v1/{plural}/{name}/status", "PUT") => (Verb::UpdateStatus, kind),
        ("/api/v1/{plural}/{name}/scale", "POST") => (Verb::Scale, kind),
        ("/api/v1/{plural}/{name}/activate", "POST") => (Verb::Activate, kind),
        ("/api/v1/{plural}/{name}/log", "GET") => (Verb::Logs, kind),
        ("/api/v1/{plural}/{name}/config", "GET") => (Verb::ReadConfig, kind),
        ("/api/v1/{plural}/{name}/credential", "POST") => (Verb::RequestCredential, kind),
        ("/api/v1/{plural}/{name}/certificate", "POST") => (Verb::RequestCertificate, kind),
        // A route added without a rule here is refused to everyone but the admin.
        _ => {
            return Err(Refusal::Forbidden(format!(
                "no authorization rule for {method} {route}"
            )))
        }
    };
    // The namespace is in the path of `/api/v1/namespaces/{namespace}/...`.
    let namespace = param("namespace").or(namespace);
    let all_namespaces = namespace.is_none()
        && matches!(verb, Verb::List | Verb::Watch | Verb::ReadPodMetrics)
        && kind.is_some_and(Kind::namespaced);
    let namespace = match kind {
        Some(k) if k.namespaced() => namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        _ => String::new(),
    };
    Ok(Action {
        verb,
        kind,
        namespace,
        name: param("name"),
        all_namespaces,
    })
}

/// The kinds a node reads, lists and watches.
const NODE_READABLE: [Kind; 6] = [
    Kind::Pod,
    Kind::Service,
    Kind::Ingress,
    Kind::Node,
    Kind::PersistentVolumeClaim,
    Kind::ConfigMap,
];

/// Where a pod is, for the node authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodBinding {
    /// No such pod: the handler answers 404 (a node may list pods anyway).
    Missing,
    /// Bound to this node, or to none.
    Node(Option<String>),
}

/// What the node authorizer asks of the cluster's state.
pub trait ClusterFacts {
    /// Where the pod `namespace/name` is.
    fn pod_binding(&self, namespace: &str, name: &str) -> PodBinding;
    /// Whether an Ingress of `namespace` names Secret `name` in its `spec.tls`: nodes read those
    /// (their gateways serve the certificate) and no other Secret.
    fn is_ingress_certificate(&self, namespace: &str, name: &str) -> bool;
}

/// Whether `identity` may do `action`, given what `facts` says of the objects it touches.
pub fn authorize(
    identity: &Identity,
    action: &Action,
    facts: &dyn ClusterFacts,
) -> Result<(), Refusal> {
    let refuse = || Refusal::Forbidden(format!("{identity} may not {action}"));
    match identity {
        Identity::Admin => Ok(()),
        Identity::Bootstrap => match (action.verb, action.kind) {
            (Verb::Health, _) | (Verb::RequestCredential, Some(Kind::Node)) => Ok(()),
            _ => Err(Refusal::Forbidden(format!(
                "{identity} may not {action}: it may only request a node credential \
                 (POST /api/v1/nodes/NAME/credential)"
            ))),
        },
        Identity::Peer => match action.verb {
            Verb::Health | Verb::ReadBlob | Verb::ReplicateBlob => Ok(()),
            _ => Err(refuse()),
        },
        Identity::User(holder) => match user_may(holder, action) {
            UserDecision::Allowed => Ok(()),
            UserDecision::Refused => Err(refuse()),
            UserDecision::RefusedBecause(why) => Err(Refusal::Forbidden(format!(
                "{identity} may not {action}: {why}"
            ))),
        },
        Identity::Node(node) => {
            let own_pod = || {
                action.name.as_deref().is_some_and(|name| {
                    match facts.pod_binding(&action.namespace, name) {
                        PodBinding::Missing => true,
                        PodBinding::Node(bound) => bound.as_deref() == Some(node.as_str()),
                    }
                })
            };
            let allowed = match (action.verb, action.kind) {
                (
                    Verb::Health
                    | Verb::ReadBlob
                    | Verb::ReportEvent
                    | Verb::ReadRevokedCertificates,
                    _,
                ) => true,
                (Verb::Get | Verb::List | Verb::Watch, Some(kind))
                    if NODE_READABLE.contains(&kind) =>
                {
                    true
                }
                (Verb::Get, Some(Kind::Secret)) => action
                    .name
                    .as_deref()
                    .is_some_and(|name| facts.is_ingress_certificate(&action.namespace, name)),
                (
                    Verb::Update | Verb::UpdateStatus | Verb::RequestCertificate,
                    Some(Kind::Node),
                ) => action.name.as_deref() == Some(node.as_str()),
                (Verb::UpdateStatus | Verb::ReadConfig, Some(Kind::Pod)) => own_pod(),
                // Its gateway holds a request for a service at zero replicas.
                (Verb::Activate, Some(Kind::Service)) => true,
                _ => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(refuse())
            }
        }
    }
}

/// The kinds an `edit` token writes: workloads, config and secrets.
const EDITABLE: [Kind; 10] = [
    Kind::HorizontalPodAutoscaler,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::Pod,
    Kind::Service,
    Kind::Ingress,
    Kind::ConfigMap,
    Kind::Secret,
    Kind::PersistentVolumeClaim,
    Kind::KeyValueStore,
];

enum UserDecision {
    Allowed,
    Refused,
    RefusedBecause(&'static str),
}

/// What an API token's role and namespace allow (see the module's overview).
fn user_may(holder: &TokenHolder, action: &Action) -> UserDecision {
    use UserDecision::{Allowed, Refused, RefusedBecause};
    if holder.role == Role::Admin && holder.namespace.is_none() {
        return Allowed;
    }
    let edit = holder.role != Role::View;
    // Whether the object(s) the action touches are in the token's namespace.
    let in_scope = || match (&holder.namespace, action.kind) {
        (None, _) => true,
        (Some(ns), Some(kind)) if kind.namespaced() => {
            !action.all_namespaces && action.namespace == *ns
        }
        (Some(ns), Some(Kind::Namespace)) => {
            action.verb == Verb::Get && action.name.as_deref() == Some(ns.as_str())
        }
        (Some(_), _) => false,
    };
    let scoped = |allowed: bool| match (allowed, in_scope()) {
        (true, true) => Allowed,
        (true, false) => RefusedBecause("outside the token's namespace"),
        (false, _) => Refused,
    };
    match (action.verb, action.kind) {
        (Verb::Health | Verb::WhoAmI, _) => Allowed,
        (Verb::Get | Verb::List | Verb::Watch, Some(Kind::Secret)) if !edit => {
            RefusedBecause("the view role reads no Secret, neither its values nor its keys")
        }
        (Verb::Get | Verb::List | Verb::Watch, Some(_)) => scoped(true),
        (Verb::Logs | Verb::ReadPodMetrics, Some(Kind::Pod)) => scoped(true),
        // Any role reads the server's metrics: counts and timings, no object's content.
        (Verb::ReadMetrics, None) => Allowed,
        (Verb::ReadConfig, Some(Kind::Pod)) if !edit => {
            RefusedBecause("a pod's resolved config holds the values of its secrets")
        }
        (Verb::ReadConfig, Some(Kind::Pod)) => scoped(true),
        (Verb::ReadBlob | Verb::ReadCluster, _) => Allowed,
        // Apply names its kinds in its body: the handler checks each object.
        (Verb::Apply | Verb::UploadBlob, None) if edit => Allowed,
        (Verb::Activate, Some(Kind::Service)) => scoped(edit),
        (Verb::Apply | Verb::Delete | Verb::Scale, Some(kind)) => {
            scoped(edit && EDITABLE.contains(&kind))
        }
        _ => Refused,
    }
}

impl AppState {
    /// The identity a bearer token proves (`None`: no valid credential).
    fn identity(&self, token: Option<&str>) -> Option<Identity> {
        let open = self.auth.open();
        let Some(token) = token else {
            return open.then_some(Identity::Admin);
        };
        let is = |t: &Option<String>| t.as_deref().is_some_and(|t| constant_time_eq(t, token));
        if is(&self.auth.admin_token) {
            return Some(Identity::Admin);
        }
        if is(&self.auth.join_token) {
            return Some(Identity::Bootstrap);
        }
        if self.peer_token.matches(token) {
            return Some(Identity::Peer);
        }
        if let Some(node) = self.credentials.node_of(token) {
            return Some(Identity::Node(node));
        }
        if let Some(holder) = self.tokens.holder_of(token) {
            return Some(Identity::User(holder));
        }
        open.then_some(Identity::Admin)
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    wasmpod_api::gateway_key::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// The authorization layer, installed with `route_layer` so it runs after routing: a path no
/// route matches gets the router's 404 and never reaches a handler.
pub async fn authorize_route(
    State(state): State<AppState>,
    matched: MatchedPath,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    match decide(&state, &matched, &params, &request) {
        Ok(identity) => {
            if let Some(identity) = identity {
                request.extensions_mut().insert(identity);
            }
            next.run(request).await
        }
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

fn decide(
    state: &AppState,
    matched: &MatchedPath,
    params: &RawPathParams,
    request: &Request,
) -> Result<Option<Identity>, Refusal> {
    let query = Query::<NamespaceQuery>::try_from_uri(request.uri())
        .map_err(|e| Refusal::BadRequest(format!("malformed query: {}", e.body_text())))?;
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let action = action(
        matched.as_str(),
        request.method(),
        &params,
        query.0.namespace,
        query.0.watch,
    );
    if matches!(&action, Ok(a) if a.verb == Verb::Health) {
        // `/healthz` answers everyone.
        return Ok(None);
    }
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let identity = state.identity(token).ok_or(Refusal::Unauthorized)?;
    let action = match action {
        Ok(action) => action,
        Err(refusal) if identity == Identity::Admin => {
            // The admin may reach every route; the handler answers for unknown kinds.
            if let Refusal::Forbidden(_) = refusal {
                return Ok(Some(identity));
            }
            return Err(refusal);
        }
        Err(refusal) => return Err(refusal),
    };
    authorize(&identity, &action, &RegistryFacts(&state.registry))?;
    Ok(Some(identity))
}

/// Whether `identity` may write the object `key` through apply (its route names no kind).
pub fn authorize_apply(
    state: &AppState,
    identity: &Identity,
    key: &wasmpod_api::ObjectKey,
) -> Result<(), Refusal> {
    let action = Action {
        verb: Verb::Apply,
        kind: Some(key.kind),
        namespace: key.namespace.clone(),
        name: Some(key.name.clone()),
        all_namespaces: false,
    };
    authorize(identity, &action, &RegistryFacts(&state.registry))
}

/// [`ClusterFacts`] read from the registry; what cannot be read counts as "not this node's".
struct RegistryFacts<'a>(&'a crate::registry::Registry);

impl ClusterFacts for RegistryFacts<'_> {
    fn pod_binding(&self, namespace: &str, name: &str) -> PodBinding {
        match self.0.fetch::<Pod>(namespace, name) {
            Ok(Some(pod)) => PodBinding::Node(pod.spec.node_name),
            Ok(None) => PodBinding::Missing,
            Err(_) => PodBinding::Node(None),
        }
    }

    fn is_ingress_certificate(&self, namespace: &str, name: &str) -> bool {
        match self.0.all::<wasmpod_api::Ingress>(Some(namespace)) {
            Ok(ingresses) => ingresses
                .iter()
                .any(|i| i.spec.tls.iter().any(|t| t.secret_name == name)),
            Err(error) => {
                tracing::warn!(%error, "cannot list ingresses to authorize a certificate read");
                false
            }
        }
    }
}
