//! OCI distribution: Wasm components as OCI artifacts in registries.
//!
//! - [`reference`]: `REGISTRY/REPO:TAG` and `REGISTRY/REPO@sha256:...`, parsed and checked.
//! - [`manifest`]: the image manifest and the CNCF Wasm config (`application/vnd.wasm.config.v0+json`,
//!   one `application/wasm` layer), built for a push and checked on a pull.
//! - [`auth`]: registry credentials from a Docker config (`.dockerconfigjson`).
//! - [`client`]: the distribution API over HTTP(S): resolve a tag, pull by digest (every byte
//!   checked against its digest), push blobs (monolithic upload) and manifests, with basic auth
//!   and the bearer-token flow.
//!
//! Plain HTTP is used only for the registries a caller lists as insecure.

pub mod auth;
pub mod client;
pub mod manifest;
pub mod reference;

pub use auth::{Credentials, DockerConfig};
pub use client::{OciError, Progress, RegistryClient};
pub use manifest::{Pulled, WasmArtifact};
pub use reference::{Reference, ReferenceError};
