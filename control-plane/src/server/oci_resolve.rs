//! At apply, a Deployment's or StatefulSet's `component: oci://REGISTRY/REPO:TAG` is resolved
//! to its manifest digest and stored pinned: `oci://REGISTRY/REPO:TAG@sha256:...` (the tag kept
//! for display). The API server resolves (not the CLI) because it holds the pull secrets and
//! every client (CLI, CI, dashboard, controllers) then gets the same pinning; a moved tag changes
//! nothing until the next apply, which resolves again. A reference already pinned by digest is
//! kept as it is (as Kubernetes does with an image digest): the nodes pull and check it.
//!
//! A reference that does not resolve (unknown tag, refused credentials, unreachable registry, a
//! manifest that is not a Wasm component's) fails the whole apply with the registry's answer.

use super::{ApiError, AppState};
use serde_json::Value;
use wasmpod_api::oci::Reference;
use wasmpod_api::{AnyObject, ComponentRef, NameRef, Secret, DEFAULT_NAMESPACE};

const COMPONENT: &str = "/spec/template/spec/component";
const PULL_SECRETS: &str = "/spec/template/spec/imagePullSecrets";

/// `any` with its template's OCI component pinned to a digest (unchanged if it has none).
/// `batch` is the whole apply (its Secrets may hold the pull secret).
pub async fn pin(
    state: &AppState,
    at: &str,
    any: &AnyObject,
    batch: &[AnyObject],
) -> Result<AnyObject, ApiError> {
    if !matches!(
        any.0.get("kind").and_then(Value::as_str),
        Some("Deployment" | "StatefulSet")
    ) {
        return Ok(any.clone());
    }
    let Some(text) = any.0.pointer(COMPONENT).and_then(Value::as_str) else {
        return Ok(any.clone());
    };
    let field = format!("{at}: spec.template.spec.component");
    let reference = match ComponentRef::try_from(text.to_string()) {
        Ok(ComponentRef::Oci(reference)) if reference.digest.is_none() => reference,
        Ok(_) => return Ok(any.clone()),
        Err(e) => return Err(ApiError::invalid(format!("{field}: {e}"))),
    };
    let namespace = any
        .0
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_NAMESPACE);
    let secrets: Vec<NameRef> = any
        .0
        .pointer(PULL_SECRETS)
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ApiError::invalid(format!("{at}: spec.template.spec.imagePullSecrets: {e}")))?
        .unwrap_or_default();
    let pending: Vec<Secret> = batch
        .iter()
        .filter(|o| o.0.get("kind").and_then(Value::as_str) == Some("Secret"))
        .filter_map(|o| {
            let mut secret: Secret = serde_json::from_value(o.0.clone()).ok()?;
            secret.normalise();
            Some(secret)
        })
        .collect();
    let credentials = super::pull_secrets::credentials(
        &state.registry,
        namespace,
        &secrets,
        &format!("{at}: spec.template.spec"),
        &pending,
    )
    .map_err(ApiError::invalid)?;
    let pinned = resolve(
        state,
        &reference,
        credentials.get(&reference.registry).cloned(),
    )
    .await
    .map_err(|e| ApiError::invalid(format!("{field}: cannot resolve oci://{reference}: {e}")))?;
    let mut out = any.clone();
    if let Some(slot) = out.0.pointer_mut(COMPONENT) {
        *slot = Value::from(format!("{}{pinned}", wasmpod_api::OCI_SCHEME));
    }
    if pinned != reference {
        tracing::info!(reference = %reference, pinned = %pinned, "resolved an OCI tag");
    }
    Ok(out)
}

/// `reference` pinned to the digest of the manifest it names (checked to hold a Wasm layer).
async fn resolve(
    state: &AppState,
    reference: &Reference,
    credentials: Option<wasmpod_api::oci::Credentials>,
) -> Result<Reference, wasmpod_api::oci::OciError> {
    let repository = state.oci.repository(reference, credentials);
    let (digest, _layer) = repository.wasm_layer(reference.target()).await?;
    Ok(reference.pinned(&digest))
}
