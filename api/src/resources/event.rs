//! Events: what happened to an object (a pod started, crashed, was replaced ...), reported by
//! the controllers and the nodes, deduplicated and counted by the control plane.

use super::NoStatus;
use crate::object::Object;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Something that happened to an object: scheduled, started, crashed, evicted ...
pub type Event = Object<EventSpec, NoStatus>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventSpec {
    pub involved_object: ObjectReference,
    pub reason: String,
    pub message: String,
    #[serde(rename = "type", default)]
    pub event_type: EventType,
    /// Who reported it: `scheduler`, `deployment-controller`, `node/<name>` ...
    pub source: String,
    pub count: u32,
    pub first_timestamp: DateTime<Utc>,
    pub last_timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectReference {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[default]
    Normal,
    Warning,
}
