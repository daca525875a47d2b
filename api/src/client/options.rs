//! The client side of what `wasmpod` offers a kubectl user: lists narrowed by label and field
//! selectors, create-only and dry-run writes, conditional updates, and the server's version.

use super::{ApplyRequest, ApplyResponse, ApplyResult, Client, ClientError, ScaleRequest};
use crate::object::{AnyObject, Kind};
use crate::watch::ListResponse;
use serde::{Deserialize, Serialize};

/// What narrows a list: `?labelSelector=` and `?fieldSelector=` (checked by the server).
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
}

/// How a write is done: create-only (409 AlreadyExists on a taken name) and/or a server dry
/// run (validated, nothing stored).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteMode {
    pub create: bool,
    pub dry_run: bool,
}

/// `?propagationPolicy=` of a delete, as in Kubernetes: what becomes of the pods a Deployment or
/// StatefulSet owns. `Background` (the default) drains them after their owner is gone; `Orphan`
/// leaves them running, without an owner. (Kubernetes' `Foreground` is the client's to do here:
/// `delete --cascade=foreground` waits for the pods to be gone.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropagationPolicy {
    Background,
    Orphan,
}

impl PropagationPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PropagationPolicy::Background => "Background",
            PropagationPolicy::Orphan => "Orphan",
        }
    }
}

/// `GET /version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
}

/// `path` with `key=value` query parameters appended (values percent-encoded).
pub(super) fn with_query(path: String, params: &[(&str, &str)]) -> String {
    let mut out = path;
    for (key, value) in params {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(key);
        out.push('=');
        out.push_str(&urlencoding::encode(value));
    }
    out
}

fn dry_run(on: bool) -> Vec<(&'static str, &'static str)> {
    if on {
        vec![("dryRun", "All")]
    } else {
        Vec::new()
    }
}

impl Client {
    /// Lists objects of `kind` (`namespace` None: every namespace) that match `options`.
    pub async fn list_selected(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<ListResponse, ClientError> {
        let mut params = Vec::new();
        if let Some(ns) = namespace.filter(|_| kind.namespaced()) {
            params.push(("namespace", ns));
        }
        if let Some(s) = options.label_selector.as_deref() {
            params.push(("labelSelector", s));
        }
        if let Some(s) = options.field_selector.as_deref() {
            params.push(("fieldSelector", s));
        }
        let path = with_query(format!("/api/v1/{}", kind.plural()), &params);
        self.json(self.request(reqwest::Method::GET, &path)).await
    }

    /// `apply`, create-only and/or as a server dry run.
    pub async fn apply_with(
        &self,
        objects: Vec<AnyObject>,
        mode: WriteMode,
    ) -> Result<Vec<ApplyResult>, ClientError> {
        let mut params = dry_run(mode.dry_run);
        if mode.create {
            params.push(("create", "true"));
        }
        let path = with_query("/api/v1/apply".to_string(), &params);
        let response: ApplyResponse = self
            .json(
                self.request(reqwest::Method::POST, &path)
                    .json(&ApplyRequest { objects }),
            )
            .await?;
        Ok(response.results)
    }

    /// Replaces a user object as it was read (its `metadata.resourceVersion`): 409 when it has
    /// changed since.
    pub async fn update(&self, object: &AnyObject, dry: bool) -> Result<AnyObject, ClientError> {
        let kind = object
            .kind()
            .ok_or_else(|| ClientError::Decode("object without a known kind".into()))?;
        let path = with_query(
            Self::object_path(kind, object.namespace(), object.name()),
            &dry_run(dry),
        );
        self.json(self.request(reqwest::Method::PUT, &path).json(object))
            .await
    }

    /// Deletes an object, or with `dry` only checks that it could be.
    pub async fn delete_dry_run(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<(), ClientError> {
        let path = with_query(Self::object_path(kind, namespace, name), &dry_run(true));
        self.send(self.request(reqwest::Method::DELETE, &path))
            .await
            .map(|_| ())
    }

    /// Deletes an object with a propagation policy for the pods it owns; returns the server's
    /// message, as [`Client::delete`] does.
    pub async fn delete_propagating(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        policy: PropagationPolicy,
    ) -> Result<Option<String>, ClientError> {
        let path = with_query(
            Self::object_path(kind, namespace, name),
            &[("propagationPolicy", policy.as_str())],
        );
        self.delete_at(&path).await
    }

    /// `scale --dry-run=server`.
    pub async fn scale_dry_run(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) -> Result<(), ClientError> {
        let path = with_query(
            Self::subresource_path(kind, namespace, name, "/scale"),
            &dry_run(true),
        );
        self.send(
            self.request(reqwest::Method::POST, &path)
                .json(&ScaleRequest { replicas }),
        )
        .await
        .map(|_| ())
    }

    pub async fn server_version(&self) -> Result<VersionInfo, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/version"))
            .await
    }

    /// Who this client's token proves it is (`GET /api/v1/whoami`).
    pub async fn whoami(&self) -> Result<crate::whoami::WhoAmI, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/whoami"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_appended_and_encoded() {
        assert_eq!(
            with_query(
                "/api/v1/pods?namespace=a".into(),
                &[("labelSelector", "app in (x,y)")]
            ),
            "/api/v1/pods?namespace=a&labelSelector=app%20in%20%28x%2Cy%29"
        );
        assert_eq!(
            with_query("/api/v1/apply".into(), &[("dryRun", "All")]),
            "/api/v1/apply?dryRun=All"
        );
    }
}
