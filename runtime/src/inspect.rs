//! The component inspection the runtime re-exports (`wasmpod-inspect`), on real components.

#[cfg(test)]
mod tests {
    use crate::test_components::wasm;
    use crate::{inspect_component, ComponentWorld, InspectError};

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
