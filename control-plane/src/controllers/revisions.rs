//! A Deployment's revisions as ControllerRevision objects: the one for the template it rolls to
//! is made (or, when an older template comes back through `rollout undo` or an automatic
//! rollback, renumbered to the next revision, as Kubernetes does), the oldest past
//! `revisionHistoryLimit` without pods are deleted, and those of deleted deployments go too.

use super::deployment::{template_hash, TEMPLATE_HASH_LABEL};
use crate::registry::{to_any, Registry, RegistryError, Write};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wasmpod_api::Resource as _;
use wasmpod_api::{
    ConfigVersion, ControllerRevision, ControllerRevisionSpec, Deployment, Name, ObjectKey,
    ObjectMeta, OwnerReference, Pod, PodTemplate,
};

/// The name of the revision of `deployment` with template hash `hash`.
pub fn revision_name(deployment: &str, hash: &str) -> String {
    let base: String = deployment.chars().take(50).collect();
    format!("{}-{hash}", base.trim_end_matches('-'))
}

/// The revisions of each deployment, by `(namespace, name)`.
pub fn by_owner(
    revisions: &[Arc<ControllerRevision>],
) -> HashMap<super::OwnerId, Vec<&ControllerRevision>> {
    let mut owned: HashMap<super::OwnerId, Vec<&ControllerRevision>> = HashMap::new();
    for revision in revisions {
        if let Some(owner) = revision
            .metadata
            .owner_references
            .iter()
            .find(|o| o.owner_kind() == Some(wasmpod_api::Kind::Deployment))
        {
            owned
                .entry((revision.namespace().to_string(), owner.name.clone()))
                .or_default()
                .push(revision);
        }
    }
    owned
}

/// The revision a pass rolls to: its number and template, and the write that records it when it
/// is new or comes back.
pub struct Current {
    pub number: u64,
    pub hash: String,
    pub template: PodTemplate,
}

/// Finds or records the revision of `template` among `existing`; `current_hash` is the hash
/// the deployment rolled to before this pass.
pub fn current(
    registry: &Registry,
    deployment: &Deployment,
    template: &PodTemplate,
    existing: &[&ControllerRevision],
    current_hash: Option<&str>,
    writes: &mut Vec<Write>,
) -> Result<Current, RegistryError> {
    let hash = template_hash(template);
    let newest = existing.iter().map(|r| r.spec.revision).max().unwrap_or(0);
    let found = existing.iter().find(|r| r.spec.template_hash == hash);
    let number = match found {
        Some(r) if current_hash == Some(hash.as_str()) || r.spec.revision == newest => {
            r.spec.revision
        }
        Some(r) => {
            // An older template is current again: it becomes the newest revision.
            let mut again = (*r).clone();
            again.spec.revision = newest + 1;
            writes.push(Write::Update(to_any(&again.key(), &again)?));
            newest + 1
        }
        None => {
            let revision = record(registry, deployment, template, &hash, newest + 1)?;
            writes.push(Write::Create(to_any(&revision.key(), &revision)?));
            newest + 1
        }
    };
    Ok(Current {
        number,
        hash,
        template: template.clone(),
    })
}

fn record(
    registry: &Registry,
    deployment: &Deployment,
    template: &PodTemplate,
    hash: &str,
    number: u64,
) -> Result<ControllerRevision, RegistryError> {
    let name = revision_name(deployment.name(), hash);
    let name = Name::try_from(name.clone()).map_err(|e| RegistryError::Invalid {
        key: deployment.key().to_string(),
        message: format!("revision name {name:?} is not valid: {e}"),
    })?;
    let mut metadata = ObjectMeta::named(name);
    metadata.namespace = Some(deployment.namespace().to_string());
    metadata.owner_references = vec![OwnerReference::to(deployment)];
    metadata
        .labels
        .insert(TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    let mut config_versions = Vec::new();
    for (kind, name) in super::config_version::references(&template.spec) {
        let key = ObjectKey::new(kind, deployment.namespace(), &name);
        let resource_version = registry.get(&key)?.map(|o| o.resource_version());
        config_versions.push(ConfigVersion {
            kind,
            name,
            resource_version,
        });
    }
    Ok(ControllerRevision::of(
        metadata,
        ControllerRevisionSpec {
            revision: number,
            template_hash: hash.to_string(),
            template: template.clone(),
            component_digest: template
                .spec
                .component_digest()
                .map(|hex| format!("sha256:{hex}")),
            config_versions,
            change_cause: template
                .metadata
                .annotations
                .get(wasmpod_api::RESTARTED_AT_ANNOTATION)
                .map(|at| format!("restarted at {at}")),
        },
    ))
}

/// Deletes the oldest revisions past `revisionHistoryLimit` that no pod runs and that are not
/// current, and (with `live` the deployments that exist) every revision of a deployment gone.
pub fn collect(
    owned: &HashMap<super::OwnerId, Vec<&ControllerRevision>>,
    deployments: &HashMap<super::OwnerId, &Deployment>,
    pods: &HashMap<super::OwnerId, Vec<&Pod>>,
    current: &HashMap<super::OwnerId, String>,
) -> Vec<Write> {
    let mut writes = Vec::new();
    for (id, revisions) in owned {
        let Some(deployment) = deployments.get(id) else {
            writes.extend(revisions.iter().map(|r| Write::Delete(r.key())));
            continue;
        };
        let running: HashSet<&str> = pods
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|p| p.metadata.labels.get(TEMPLATE_HASH_LABEL))
            .map(String::as_str)
            .collect();
        let mut old: Vec<&&ControllerRevision> = revisions
            .iter()
            .filter(|r| {
                current.get(id) != Some(&r.spec.template_hash)
                    && !running.contains(r.spec.template_hash.as_str())
            })
            .collect();
        let limit = deployment.spec.revision_history_limit as usize;
        if old.len() > limit {
            old.sort_by_key(|r| r.spec.revision);
            let extra = old.len() - limit;
            writes.extend(old[..extra].iter().map(|r| Write::Delete(r.key())));
        }
    }
    writes
}
