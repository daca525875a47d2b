//! `GET /api/v1/whoami`: who the bearer token proves the caller is, and which namespaces it may
//! read (what `kubectl auth whoami` asks of Kubernetes, plus the token's namespace scope).

use crate::tokens::Role;
use serde::{Deserialize, Serialize};

/// The answer: who, with which role, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// As a refusal names the caller: `the admin`, `token "ci" (role edit, namespace dev)`.
    pub identity: String,
    /// The role of an API token (`admin` for the admin token); none for nodes and peers.
    pub role: Option<Role>,
    /// The namespaces it may read; `None`: every namespace (and cluster-scoped kinds, as its
    /// role allows).
    pub namespaces: Option<Vec<String>>,
}
