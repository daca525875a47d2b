//! What does a binary export? Answered by reading its export section, without compiling it.

use crate::InspectError;
use wasmparser::{Encoding, Parser, Payload};

/// The kind of pod a component can run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentWorld {
    /// Exports `wasi:http/incoming-handler@0.2.x`: served per request by an [`crate::HttpPod`].
    Http,
    /// Exports `wasi:cli/run@0.2.x`: run to completion by a [`crate::CommandPod`].
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_components::wasm;

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
    fn truncated_component_is_malformed() {
        let mut bytes = wasm("misbehave");
        bytes.truncate(bytes.len() / 2);
        assert!(matches!(
            inspect_component(&bytes),
            Err(InspectError::Malformed(_))
        ));
    }

    #[test]
    fn empty_component_lists_its_exports() {
        let err = inspect_component(b"\0asm\x0d\0\x01\0").expect_err("should fail");
        assert_eq!(err, InspectError::UnknownWorld(vec![]));
        assert!(err.to_string().contains("exports: nothing"), "{err}");
    }

    #[test]
    fn real_components_are_classified() {
        assert_eq!(
            inspect_component(&wasm("misbehave")),
            Ok(ComponentWorld::Http)
        );
        assert_eq!(
            inspect_component(&wasm("crasher")),
            Ok(ComponentWorld::Command)
        );
        assert_eq!(inspect_component(&wasm("hello")), Ok(ComponentWorld::Http));
    }
}
