//! The resource kinds: user-written (Deployment, Service, Ingress) and system-made (Pod, Node, Event).

mod deployment;
mod event;
mod ingress;
mod node;
mod pod;
mod service;

pub use deployment::*;
pub use event::*;
pub use ingress::*;
pub use node::*;
pub use pod::*;
pub use service::*;

use serde::{Deserialize, Serialize};

/// The status of kinds that have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoStatus {}
