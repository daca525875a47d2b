//! The errors at this crate's boundary.

use std::path::PathBuf;

/// A boxed error with its cause chain (wasmtime's own error type is not a `std::error::Error`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub(crate) fn boxed(err: wasmtime::Error) -> BoxError {
    err.into_boxed_dyn_error()
}

/// Why the runtime refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The [`crate::RuntimeConfig`] is unusable.
    #[error("invalid runtime configuration: {0}")]
    InvalidConfig(String),
    /// wasmtime refused the engine configuration.
    #[error("creating the wasmtime engine")]
    Engine(#[source] BoxError),
    /// The linker could not be set up (a bug, not an input problem).
    #[error("setting up the WASI linker")]
    Linker(#[source] BoxError),
    /// Reading or writing the compiled-component cache failed.
    #[error("component cache at {path}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The digest cannot name a cache entry.
    #[error("invalid component digest {0:?}: expected letters, digits, '-', '_', '.' or ':'")]
    InvalidDigest(String),
    /// The bytes do not hash to the `sha256:` digest they were given with.
    #[error("component bytes do not match digest {expected} (they hash to {actual})")]
    DigestMismatch { expected: String, actual: String },
    /// The bytes are not a loadable component.
    #[error(transparent)]
    NotAComponent(#[from] crate::InspectError),
    /// wasmtime could not compile the component.
    #[error("compiling component {digest}")]
    Compile {
        digest: String,
        #[source]
        source: BoxError,
    },
    /// The component imports something this runtime does not provide.
    #[error("linking component: it imports something wasmpod does not provide: {0}")]
    Link(#[source] BoxError),
    /// `http_pod` was given a component that does not export `wasi:http/incoming-handler@0.2.x`,
    /// or whose `handle` has another type.
    #[error("component is not a wasi:http proxy (an export of wasi:http/incoming-handler@0.2.x)")]
    NotHttpProxy(#[source] BoxError),
    /// `command_pod` was given a component that does not export `wasi:cli/run@0.2.x`, or whose
    /// `run` has another type.
    #[error("component is not a wasi:cli command (an export of wasi:cli/run@0.2.x)")]
    NotCommand(#[source] BoxError),
    /// The pod spec cannot be run as written.
    #[error("invalid pod spec: {0}")]
    InvalidSpec(String),
}

pub use wasmpod_inspect::InspectError;
