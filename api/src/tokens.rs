//! API tokens for people and tools, each with a role (`wasmpod create token NAME --role edit
//! --namespace dev`): what `POST /api/v1/tokens` takes and what `GET /api/v1/tokens` lists. The
//! secret itself is answered once, at creation; the server keeps only its SHA-256.

use crate::name::{Name, Namespace};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, as the admin token.
    Admin,
    /// Writes workloads, config and secrets in its namespace(s); reads what `view` reads and
    /// Secrets there; never nodes, tokens or cluster-scoped objects.
    Edit,
    /// Reads everything but Secrets (and a pod's resolved config, which holds secret values).
    View,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Edit, Role::View];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Edit => "edit",
            Role::View => "view",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: admin, edit or view"))
    }
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    pub name: Name,
    pub role: Role,
    /// The one namespace the token may touch (`None`: every namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
}

/// A token as `GET /api/v1/tokens` lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub created: DateTime<Utc>,
}

/// The answer to `POST /api/v1/tokens`: the secret, shown this once.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
