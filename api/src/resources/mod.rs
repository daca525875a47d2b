//! The resource kinds: user-written (Deployment, Service, Ingress) and system-made (Pod, Node, Event).

mod condition;
mod config;
mod deployment;
mod event;
mod hpa;
mod ingress;
mod keyvalue_store;
mod namespace;
mod node;
mod pod;
mod revision;
mod service;
mod statefulset;
mod volume;

pub use condition::*;
pub use config::*;
pub use deployment::*;
pub use event::*;
pub use hpa::*;
pub use ingress::*;
pub use keyvalue_store::*;
pub use namespace::*;
pub use node::*;
pub use pod::*;
pub use revision::*;
pub use service::*;
pub use statefulset::*;
pub use volume::*;

use serde::{Deserialize, Serialize};

/// The status of kinds that have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoStatus {}
