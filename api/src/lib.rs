//! wasmpod's API: resource types, their validation, manifest parsing and the HTTP API client.
//!
//! This crate owns the shape of everything a user writes and everything the control plane stores.
//! It knows nothing of wasmtime, axum or the store: the control plane, the workers and the CLI all
//! speak through these types.

pub mod cache;
pub mod client;
pub mod client_certificate;
#[cfg(test)]
mod client_failover_tests;
pub mod cluster;
pub mod endpoints;
pub mod error;
pub mod gateway_key;
pub mod labels;
pub mod manifest;
pub mod meta;
pub mod metrics;
pub mod name;
pub mod node_tls;
pub mod object;
pub mod oci;
pub mod origin;
#[cfg(test)]
mod parsers_never_panic;
pub mod pod_metrics;
pub mod quantity;
pub mod resolved;
pub mod resource;
pub mod resources;
pub mod revocation;
pub mod tls;
pub mod tokens;
pub mod trace;
pub mod watch;
pub mod whoami;

pub use client::{Client, ClientError};
pub use error::ValidationError;
pub use meta::{ObjectMeta, OwnerReference};
pub use name::Name;
pub use object::{AnyObject, Kind, Object, ObjectKey};
pub use resource::{KindSpec, Resource};
pub use resources::*;
pub use watch::{ListResponse, WatchEvent, WatchEventType};

/// The `apiVersion` of every wasmpod resource.
pub const API_VERSION: &str = "wasmpod.dev/v1";

/// The namespace an object lands in when its manifest names none.
pub const DEFAULT_NAMESPACE: &str = "default";
