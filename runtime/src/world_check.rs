//! Does a component's export have the shape its kind of pod calls? wasmtime's `ProxyPre` and
//! `CommandPre` find the export by name only and check its function's type when an instance is
//! made, so a `wasi:http/incoming-handler` whose `handle` has another type would be a pod that
//! fails every request. Checked here from the component's type, once, when the pod starts: the
//! error says what was expected and what was found.

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type};
use wasmtime::Engine;

const HTTP_EXPORT: &str = "wasi:http/incoming-handler@0.2.";
const HTTP_FUNC: &str = "handle";
const HTTP_EXPECTED: &str =
    "func(request: own<incoming-request>, response-out: own<response-outparam>)";
const CLI_EXPORT: &str = "wasi:cli/run@0.2.";
const CLI_FUNC: &str = "run";
const CLI_EXPECTED: &str = "func() -> result";

/// `Err` with "expected ..., found ..." unless `handle` is a proxy's handler.
pub(crate) fn check_http(engine: &Engine, component: &Component) -> Result<(), String> {
    check(
        engine,
        component,
        HTTP_EXPORT,
        HTTP_FUNC,
        HTTP_EXPECTED,
        |f| {
            f.params().len() == 2
                && f.params().all(|(_, ty)| matches!(ty, Type::Own(_)))
                && f.results().len() == 0
        },
    )
}

/// `Err` with "expected ..., found ..." unless `run` is a command's entry point.
pub(crate) fn check_command(engine: &Engine, component: &Component) -> Result<(), String> {
    check(engine, component, CLI_EXPORT, CLI_FUNC, CLI_EXPECTED, |f| {
        let mut results = f.results();
        f.params().len() == 0
            && results.len() == 1
            && matches!(results.next(), Some(Type::Result(r)) if r.ok().is_none() && r.err().is_none())
    })
}

fn check(
    engine: &Engine,
    component: &Component,
    interface: &str,
    func: &str,
    expected: &str,
    fits: impl Fn(&ComponentFunc) -> bool,
) -> Result<(), String> {
    let ty = component.component_type();
    let Some((name, export)) = ty.exports(engine).find(|(n, _)| n.starts_with(interface)) else {
        // No such export at all: `ProxyPre`/`CommandPre` say so.
        return Ok(());
    };
    let expectation = format!("expected {name} to export `{func}: {expected}`");
    let ComponentItem::ComponentInstance(instance) = export.ty else {
        return Err(format!(
            "{expectation}, found {name} exported as {}",
            item_kind(&export.ty)
        ));
    };
    match instance.get_export(engine, func).map(|e| e.ty) {
        Some(ComponentItem::ComponentFunc(f)) if fits(&f) => Ok(()),
        Some(ComponentItem::ComponentFunc(f)) => Err(format!(
            "{expectation}, found `{func}: {}`",
            describe_func(&f)
        )),
        Some(other) => Err(format!(
            "{expectation}, found `{func}` as {}",
            item_kind(&other)
        )),
        None => {
            let names: Vec<String> = instance
                .exports(engine)
                .map(|(n, _)| format!("`{n}`"))
                .collect();
            Err(format!(
                "{expectation}, found no `{func}` (it exports {})",
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            ))
        }
    }
}

fn describe_func(f: &ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(name, ty)| format!("{name}: {}", type_name(&ty)))
        .collect();
    let results: Vec<&str> = f.results().map(|ty| type_name(&ty)).collect();
    match results.as_slice() {
        [] => format!("func({})", params.join(", ")),
        [one] => format!("func({}) -> {one}", params.join(", ")),
        many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

fn item_kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "a function",
        ComponentItem::CoreFunc(_) => "a core function",
        ComponentItem::Module(_) => "a core module",
        ComponentItem::Component(_) => "a component",
        ComponentItem::ComponentInstance(_) => "an instance",
        ComponentItem::Type(_) => "a type",
        ComponentItem::Resource(_) => "a resource",
    }
}

fn type_name(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) | Type::FixedLengthList(_) => "list",
        Type::Map(_) => "map",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        Type::Own(_) => "own<resource>",
        Type::Borrow(_) => "borrow<resource>",
        Type::Future(_) => "future",
        Type::Stream(_) => "stream",
        Type::ErrorContext => "error-context",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(text: &str) -> (Engine, Component) {
        let mut config = wasmtime::Config::new();
        config.gc_support(false);
        let engine = Engine::new(&config).expect("engine");
        let bytes = wat::parse_str(text).expect("component text");
        let component = Component::new(&engine, bytes).expect("compiles");
        (engine, component)
    }

    fn exporting(interface: &str, func_type: &str, core: &str) -> String {
        format!(
            r#"(component
              (core module $m (func (export "f") {core} unreachable))
              (core instance $i (instantiate $m))
              (type $outcome (result))
              (func $f {func_type} (canon lift (core func $i "f")))
              (instance $x (export "{}" (func $f)))
              (export "{interface}" (instance $x)))"#,
            if interface.starts_with("wasi:cli") {
                "run"
            } else {
                "handle"
            }
        )
    }

    #[test]
    fn a_handle_without_request_and_response_out_is_named_with_what_was_expected() {
        let (engine, component) = compiled(&exporting("wasi:http/incoming-handler@0.2.0", "", ""));
        let err = check_http(&engine, &component).expect_err("wrong shape");
        assert_eq!(
            err,
            "expected wasi:http/incoming-handler@0.2.0 to export `handle: func(request: \
             own<incoming-request>, response-out: own<response-outparam>)`, found `handle: func()`"
        );
        // Not a command either: a run of the right type is.
        assert_eq!(check_command(&engine, &component), Ok(()));
    }

    #[test]
    fn a_run_returning_the_wrong_type_is_named() {
        let (engine, component) = compiled(&exporting(
            "wasi:cli/run@0.2.0",
            "(param \"n\" u32) (result u32)",
            "(param i32) (result i32)",
        ));
        let err = check_command(&engine, &component).expect_err("wrong shape");
        assert!(err.ends_with("found `run: func(n: u32) -> u32`"), "{err}");
        let (engine, component) = compiled(&exporting(
            "wasi:cli/run@0.2.0",
            "(result $outcome)",
            "(result i32)",
        ));
        assert_eq!(check_command(&engine, &component), Ok(()));
    }
}
