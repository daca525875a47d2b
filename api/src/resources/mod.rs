//! The resource kinds: user-written (Deployment, Service, Ingress) and system-made (Pod, Node, Event).

mod config;
mod deployment;
mod event;
mod ingress;
mod keyvalue_store;
mod namespace;
mod node;
mod pod;
mod service;
mod statefulset;
mod volume;

pub use config::*;
pub use deployment::*;
pub use event::*;
pub use ingress::*;
pub use keyvalue_store::*;
pub use namespace::*;
pub use node::*;
pub use pod::*;
pub use service::*;
pub use statefulset::*;
pub use volume::*;

use serde::{Deserialize, Serialize};

/// The status of kinds that have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoStatus {}
