//! ControllerRevisions: one per template a Deployment has run, as in Kubernetes. Named
//! `<deployment>-<template hash>`, owned by the deployment (collected with it), holding the
//! template, its revision number, the component digest it resolved to and the versions of the
//! ConfigMaps and Secrets it used when it became a revision. Made by the deployment controller;
//! `rollout history` lists them and `rollout undo` copies one's template back.

use super::deployment::PodTemplate;
use super::NoStatus;
use crate::object::{Kind, Object};
use serde::{Deserialize, Serialize};

/// A recorded template of a Deployment.
pub type ControllerRevision = Object<ControllerRevisionSpec, NoStatus>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControllerRevisionSpec {
    /// The revision number; a template that becomes current again gets the next number.
    pub revision: u64,
    /// The `pod-template-hash` of its pods.
    pub template_hash: String,
    pub template: PodTemplate,
    /// `sha256:<hex>` the template's component resolved to at apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_digest: Option<String>,
    /// The ConfigMaps and Secrets the template uses, at the version they had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_versions: Vec<ConfigVersion>,
    /// Why this revision exists (`kubernetes.io/change-cause` style): apply, restart, undo,
    /// automatic rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_cause: Option<String>,
}

/// One ConfigMap or Secret a revision used, with its `resourceVersion` then (`None`: missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigVersion {
    pub kind: Kind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<u64>,
}
