//! At apply, a Deployment's or StatefulSet's `component: oci://REGISTRY/REPO:TAG` is resolved
//! to its manifest digest and stored pinned: `oci://REGISTRY/REPO:TAG@sha256:...` (the tag kept
//! for display). The API server resolves (not the CLI) because it holds the pull secrets and
//! every client (CLI, CI, dashboard, controllers) then gets the same pinning; a moved tag changes
//! nothing until the next apply, which resolves again. A reference already pinned by digest is
//! stored as it is (as Kubernetes does with an image digest).
//!
//! A tag that does not resolve (unknown tag, refused credentials, unreachable registry, a
//! manifest that is not a Wasm component's) fails the whole apply with the registry's answer.
//!
//! A component named here, by tag or by digest, is also checked as an upload is: its Wasm layer
//! is pulled (checked against its digest) and must be a component that exports
//! `wasi:http/incoming-handler` or `wasi:cli/run`; anything else fails the apply (422) naming the
//! field and what the component exports, instead of a `WrongWorld` pod later. The verdict is
//! remembered by layer digest ([`CheckedLayers`]), so applying the same component again asks the
//! registry for its manifest only.
//!
//! A digest-pinned reference needs nothing from the registry to be stored, so only a verdict
//! refuses it: when the registry cannot be asked (unreachable, refused credentials, a missing
//! pull secret, a manifest or layer that is not what its digest says), the apply goes on and the
//! nodes' pull reports it (`ErrImagePull`), as before. A pinned reference that is already the
//! stored object's is not checked again (a `scale` or `label` asks no registry). `apply` checks
//! that the caller may write the object before it calls [`pin`].

use super::{ApiError, AppState};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use wasmpod_api::oci::client::Repository;
use wasmpod_api::oci::Reference;
use wasmpod_api::{AnyObject, ComponentRef, NameRef, ObjectKey, Secret, DEFAULT_NAMESPACE};

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
        Ok(ComponentRef::Oci(reference)) => reference,
        Ok(_) => return Ok(any.clone()),
        Err(e) => return Err(ApiError::invalid(format!("{field}: {e}"))),
    };
    let namespace = any
        .0
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_NAMESPACE);
    if reference.digest.is_some()
        && stored_component(state, any, namespace)?.as_deref() == Some(text)
    {
        return Ok(any.clone());
    }
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
    );
    if reference.digest.is_some() {
        let credentials = match credentials {
            Ok(credentials) => credentials.get(&reference.registry).cloned(),
            Err(why) => {
                tracing::warn!(
                    reference = %reference,
                    error = %why,
                    "cannot check a pinned OCI component at apply; its nodes will pull it"
                );
                return Ok(any.clone());
            }
        };
        check_pinned(state, &reference, credentials)
            .await
            .map_err(|e| ApiError::invalid(format!("{field}: {e}")))?;
        return Ok(any.clone());
    }
    let credentials = credentials.map_err(ApiError::invalid)?;
    let pinned = resolve(
        state,
        &reference,
        credentials.get(&reference.registry).cloned(),
    )
    .await
    .map_err(|e| ApiError::invalid(format!("{field}: {e}")))?;
    let mut out = any.clone();
    if let Some(slot) = out.0.pointer_mut(COMPONENT) {
        *slot = Value::from(format!("{}{pinned}", wasmpod_api::OCI_SCHEME));
    }
    if pinned != reference {
        tracing::info!(reference = %reference, pinned = %pinned, "resolved an OCI tag");
    }
    Ok(out)
}

/// Why a tag cannot be pinned.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("cannot resolve oci://{reference}: {source}")]
    Registry {
        reference: Reference,
        #[source]
        source: wasmpod_api::oci::OciError,
    },
    #[error("oci://{reference} ({layer}) cannot run as a pod: {why}")]
    NotRunnable {
        reference: Reference,
        layer: String,
        why: String,
    },
}

/// The component in `any`'s stored version (none: not stored, or no component).
fn stored_component(
    state: &AppState,
    any: &AnyObject,
    namespace: &str,
) -> Result<Option<String>, ApiError> {
    let Some(kind) = any.kind() else {
        return Ok(None);
    };
    let stored = state
        .registry
        .get(&ObjectKey::new(kind, namespace, any.name()))?;
    Ok(stored.and_then(|stored| {
        stored
            .0
            .pointer(COMPONENT)
            .and_then(Value::as_str)
            .map(str::to_string)
    }))
}

/// `reference` pinned to the digest of the manifest it names, checked to hold a Wasm layer
/// that is a component wasmpod can run.
async fn resolve(
    state: &AppState,
    reference: &Reference,
    credentials: Option<wasmpod_api::oci::Credentials>,
) -> Result<Reference, ResolveError> {
    let registry = |source| ResolveError::Registry {
        reference: reference.clone(),
        source,
    };
    let judged = judge(state, reference, credentials)
        .await
        .map_err(registry)?;
    judged.verdict.map_err(|why| ResolveError::NotRunnable {
        reference: reference.clone(),
        layer: judged.layer,
        why,
    })?;
    Ok(reference.pinned(&judged.manifest))
}

/// Checks the component a digest-pinned `reference` names; only a verdict refuses it (see the
/// module's comment): a registry that cannot be asked is logged and left to the nodes' pull.
async fn check_pinned(
    state: &AppState,
    reference: &Reference,
    credentials: Option<wasmpod_api::oci::Credentials>,
) -> Result<(), ResolveError> {
    let judged = match judge(state, reference, credentials).await {
        Ok(judged) => judged,
        Err(error) => {
            tracing::warn!(
                reference = %reference,
                error = %error,
                "cannot check a pinned OCI component at apply; its nodes will pull it"
            );
            return Ok(());
        }
    };
    judged.verdict.map_err(|why| ResolveError::NotRunnable {
        reference: reference.clone(),
        layer: judged.layer,
        why,
    })
}

/// What the registry said of a reference: its manifest's digest (checked against the
/// reference's digest when it has one), its Wasm layer's digest, and whether that layer can run
/// as a pod.
struct Judged {
    manifest: String,
    layer: String,
    verdict: LayerVerdict,
}

/// Reads `reference`'s manifest and judges its Wasm layer: a verdict remembered for the layer's
/// digest, else the layer pulled and inspected (and its verdict remembered).
async fn judge(
    state: &AppState,
    reference: &Reference,
    credentials: Option<wasmpod_api::oci::Credentials>,
) -> Result<Judged, wasmpod_api::oci::OciError> {
    let repository = state.oci.repository(reference, credentials);
    let (manifest, pulled) = repository.wasm_layer(reference.target()).await?;
    let layer = pulled.layer.digest;
    let verdict = match state.oci_layers.verdict(&layer) {
        Some(verdict) => verdict,
        None => {
            let verdict = inspect_layer(&repository, &layer).await?;
            state.oci_layers.remember(&layer, verdict.clone());
            verdict
        }
    };
    Ok(Judged {
        manifest,
        layer,
        verdict,
    })
}

/// Pulls the layer `digest` (checked against it) and says whether it can run as a pod, as an
/// upload is checked: `Err` holds why not.
async fn inspect_layer(
    repository: &Repository,
    digest: &str,
) -> Result<LayerVerdict, wasmpod_api::oci::OciError> {
    let bytes = repository.blob(digest).await?;
    let started = std::time::Instant::now();
    let verdict = tokio::task::spawn_blocking(move || {
        wasmpod_inspect::inspect_component(&bytes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("the check of the component failed: {e}")));
    tracing::info!(
        layer = digest,
        runnable = verdict.is_ok(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "checked an OCI component's world"
    );
    Ok(verdict)
}

/// Whether a layer can run as a pod; `Err` says why not.
type LayerVerdict = Result<(), String>;

/// The most layer verdicts kept; the oldest goes first.
const MAX_CHECKED_LAYERS: usize = 4096;

/// Verdicts of the layers checked at apply, by digest. A digest names its bytes, so a verdict
/// never goes stale; only the registry's transient failures are not remembered.
#[derive(Debug, Default)]
pub struct CheckedLayers {
    inner: Mutex<Checked>,
}

#[derive(Debug, Default)]
struct Checked {
    verdicts: HashMap<String, LayerVerdict>,
    order: VecDeque<String>,
}

impl CheckedLayers {
    fn verdict(&self, digest: &str) -> Option<LayerVerdict> {
        let checked = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        checked.verdicts.get(digest).cloned()
    }

    fn remember(&self, digest: &str, verdict: LayerVerdict) {
        let mut checked = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if checked
            .verdicts
            .insert(digest.to_string(), verdict)
            .is_none()
        {
            checked.order.push_back(digest.to_string());
        }
        while checked.order.len() > MAX_CHECKED_LAYERS {
            if let Some(oldest) = checked.order.pop_front() {
                checked.verdicts.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_remembered_by_digest_and_bounded() {
        let checked = CheckedLayers::default();
        assert_eq!(checked.verdict("sha256:a"), None);
        checked.remember("sha256:a", Err("exports: greet".into()));
        checked.remember("sha256:a", Err("exports: greet".into()));
        assert_eq!(
            checked.verdict("sha256:a"),
            Some(Err("exports: greet".into()))
        );
        for i in 0..MAX_CHECKED_LAYERS {
            checked.remember(&format!("sha256:{i}"), Ok(()));
        }
        assert_eq!(checked.verdict("sha256:a"), None, "the oldest went first");
        assert_eq!(checked.verdict("sha256:0"), Some(Ok(())));
        let inner = checked.inner.lock().expect("lock");
        assert_eq!(inner.verdicts.len(), MAX_CHECKED_LAYERS);
        assert_eq!(inner.order.len(), MAX_CHECKED_LAYERS);
    }
}
