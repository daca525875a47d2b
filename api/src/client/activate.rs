//! `POST /api/v1/services/NAME/activate?namespace=NS`: a gateway holding a request for a
//! service with no endpoint asks the control plane to bring the service's deployment back from
//! zero (what Knative's activator does).

use super::Client;
use crate::object::Kind;
use crate::ClientError;
use serde::{Deserialize, Serialize};

/// What an activation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivateResponse {
    /// The deployments that scale the service's pods, each with its replicas now.
    pub targets: Vec<ActivatedTarget>,
    /// How long a gateway may hold the service's requests (the longest of the autoscalers').
    pub hold_seconds: u32,
    /// How many of the service's requests a gateway may hold at once (the largest of the
    /// autoscalers' `activationQueueLimit`).
    #[serde(default = "default_queue_limit")]
    pub queue_limit: u32,
}

fn default_queue_limit() -> u32 {
    crate::resources::DEFAULT_ACTIVATION_QUEUE_LIMIT
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivatedTarget {
    pub deployment: String,
    /// The replicas before this call.
    pub from: u32,
    pub replicas: u32,
}

impl Client {
    /// Asks for the deployment behind `namespace/service` to come back from zero. A 404 means
    /// no HorizontalPodAutoscaler scales the service's pods.
    pub async fn activate(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<ActivateResponse, ClientError> {
        let path = Self::subresource_path(Kind::Service, namespace, service, "/activate");
        self.json(self.request(reqwest::Method::POST, &path)).await
    }
}
