//! What one instance of a component takes from the pooling allocator, so admission can keep the
//! pool from overflowing: its core instances (counted in the binary: wasmtime does not say),
//! memories and tables (from `Component::resources_required`).

use crate::admission::InstanceCost;
use wasmparser::{Instance, Parser, Payload};
use wasmtime::component::Component;

/// The cost of one instance of `component` (compiled from `wasm`). When `wasm` cannot be read
/// (a cache hit given no bytes), the core instances are estimated from the memories and tables.
pub(crate) fn instance_cost(component: &Component, wasm: &[u8]) -> InstanceCost {
    let (memories, tables) = component
        .resources_required()
        .map_or((1, 1), |r| (r.num_memories, r.num_tables));
    let core_instances = core_instances(wasm).unwrap_or_else(|| 2 * memories.max(tables).max(1));
    InstanceCost {
        core_instances,
        memories,
        tables,
    }
}

/// Core modules instantiated by the component and every component nested in it.
fn core_instances(wasm: &[u8]) -> Option<u32> {
    let mut count = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::InstanceSection(reader) = payload.ok()? {
            for instance in reader {
                if let Instance::Instantiate { .. } = instance.ok()? {
                    count = count.saturating_add(1);
                }
            }
        }
    }
    (count > 0).then_some(count)
}

#[cfg(test)]
mod tests {
    use crate::test_components::{component, wasm};

    #[test]
    fn a_rust_component_costs_its_core_instances() {
        let bytes = wasm("hello");
        let counted = super::core_instances(&bytes).expect("a component instantiates modules");
        assert!(counted >= 1, "{counted}");
        let cost = component("hello").instance_cost();
        assert_eq!(cost.core_instances, counted);
        assert!(cost.memories >= 1, "{cost:?}");
        assert!(cost.slots() >= counted);
        assert_eq!(super::core_instances(b"junk"), None);
    }
}
