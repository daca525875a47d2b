//! What does a WebAssembly binary export? Answered by reading its export section with
//! wasmparser, without compiling it. A crate of its own so that the control plane (which checks
//! components at upload and apply) does not link wasmtime; the runtime re-exports it.

use wasmparser::{Encoding, Parser, Payload};

/// The kind of pod a component can run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentWorld {
    /// Exports `wasi:http/incoming-handler@0.2.x`: served per request by an `HttpPod` (wasmpod-runtime).
    Http,
    /// Exports `wasi:cli/run@0.2.x`: run to completion by a `CommandPod` (wasmpod-runtime).
    Command,
}

const HTTP_EXPORT: &str = "wasi:http/incoming-handler@0.2.";
const CLI_EXPORT: &str = "wasi:cli/run@0.2.";

/// Cheap, no compilation: what does this binary export? A component exporting both interfaces
/// counts as [`ComponentWorld::Http`].
pub fn inspect_component(bytes: &[u8]) -> Result<ComponentWorld, InspectError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(InspectError::NotWasm);
    }
    let mut depth = 0usize;
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Malformed(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding == Encoding::Module {
                    return Err(InspectError::CoreModule);
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if exports.iter().any(|e| e.starts_with(HTTP_EXPORT)) {
        Ok(ComponentWorld::Http)
    } else if exports.iter().any(|e| e.starts_with(CLI_EXPORT)) {
        Ok(ComponentWorld::Command)
    } else {
        Err(InspectError::UnknownWorld(exports))
    }
}

/// Why [`inspect_component`] rejected a binary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("not a WebAssembly binary")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component; build for wasm32-wasip2 or run `wasm-tools component new`"
    )]
    CoreModule,
    #[error("malformed WebAssembly component: {0}")]
    Malformed(String),
    #[error(
        "component exports neither wasi:http/incoming-handler@0.2.x nor wasi:cli/run@0.2.x; it exports: {}",
        if .0.is_empty() { "nothing".to_string() } else { .0.join(", ") }
    )]
    UnknownWorld(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_wasm() {
        assert_eq!(
            inspect_component(b"hello world"),
            Err(InspectError::NotWasm)
        );
        assert_eq!(inspect_component(b""), Err(InspectError::NotWasm));
    }

    #[test]
    fn core_module_is_rejected_with_a_hint() {
        let err = inspect_component(b"\0asm\x01\0\0\0").expect_err("should fail");
        assert_eq!(err, InspectError::CoreModule);
        assert!(err.to_string().contains("wasm32-wasip2"));
    }

    #[test]
    fn empty_component_lists_its_exports() {
        let err = inspect_component(b"\0asm\x0d\0\x01\0").expect_err("should fail");
        assert_eq!(err, InspectError::UnknownWorld(vec![]));
        assert!(err.to_string().contains("exports: nothing"), "{err}");
    }
}
