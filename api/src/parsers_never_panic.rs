//! Property tests: every parser of user or network input answers `Ok` or `Err` for any input,
//! never a panic. Bounded in `just test` (256 cases each, proptest's default); `just fuzz` runs
//! the same properties with `PROPTEST_CASES=100000`.

use crate::labels::{FieldSelector, Selector};
use crate::manifest::parse_manifests;
use crate::origin::Origin;
use crate::quantity::{parse_cpu, parse_memory};
use crate::trace::TraceParent;
use proptest::prelude::*;

/// Text made of what the grammars are made of, so the cases reach past the first character.
fn grammar_text(alphabet: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(alphabet.chars().collect::<Vec<_>>()),
        0..48,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Manifest-shaped YAML: known keys and kinds with random values, nesting and separators.
fn manifest_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "namespace",
        "spec",
        "replicas",
        "template",
        "component",
        "labels",
        "selector",
        "matchLabels",
        "data",
        "ports",
        "rules",
        "env",
        "resources",
        "limits",
        "memory",
        "cpu",
        "tls",
        "hosts",
        "---",
        "- ",
    ]);
    let value = prop::sample::select(vec![
        "wasmpod.dev/v1",
        "Deployment",
        "Pod",
        "Service",
        "Ingress",
        "ConfigMap",
        "Secret",
        "Namespace",
        "StatefulSet",
        "{}",
        "[]",
        "null",
        "-1",
        "1e99",
        "\"\"",
        "x",
        "{a: b}",
        "[1, {b: 2}]",
        "*a",
        "&a x",
        "!!binary AA==",
        "18446744073709551616",
        "~",
        ":",
    ]);
    prop::collection::vec((0usize..4, key, value), 0..24).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(indent, k, v)| format!("{}{k}: {v}\n", "  ".repeat(indent)))
            .collect()
    })
}

proptest! {
    #[test]
    fn manifests_never_panic(text in prop_oneof![any::<String>(), manifest_text()]) {
        let _ = parse_manifests(&text, "property");
    }

    #[test]
    fn quantities_never_panic(text in prop_oneof![
        any::<String>(),
        grammar_text("0123456789.eEkKMGTPiumn+- "),
    ]) {
        let _ = parse_memory(&text);
        let _ = parse_cpu(&text);
    }

    #[test]
    fn label_and_field_selectors_never_panic(text in prop_oneof![
        any::<String>(),
        grammar_text("abz09.-_/=!,() inotexs"),
    ]) {
        let _ = Selector::parse(&text);
        let _ = FieldSelector::parse(&text);
    }

    #[test]
    fn origins_never_panic(text in prop_oneof![
        any::<String>(),
        grammar_text("htps:/*.[]:0123456789abc-@?#%"),
    ]) {
        let _ = Origin::parse(&text);
    }

    #[test]
    fn traceparents_never_panic(text in prop_oneof![
        any::<String>(),
        grammar_text("0123456789abcdefABCDEF-"),
        "[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}",
    ]) {
        if let Ok(value) = http::HeaderValue::from_str(&text) {
            let _ = TraceParent::parse(&value);
        }
    }
}
