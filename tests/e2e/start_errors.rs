//! A component that cannot start says why, where a user looks: the pod's status reason and a
//! message naming the cause, a Warning event, and `wasmpod describe pod`. One test per cause: code
//! the compiler refuses (`CompileError`), exports of the wrong shape or a pod spec for the other
//! kind of pod (`WrongWorld`), a trap in `wasi:cli/run` (`StartTrap`); bytes that are no component
//! at all are refused at apply, naming why. (A missing import, `ComponentLinkError`, is in
//! `hostile_guests.rs`.) The small components are written here in the component text format.

use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmpod_tests::{components, deployment_yaml, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(60);

/// A command whose `run` is valid: it traps (`unreachable`).
const TRAPS_IN_RUN: &str = r#"(component
  (core module $m (func (export "run") (result i32) unreachable))
  (core instance $i (instantiate $m))
  (type $outcome (result))
  (func $run (result $outcome) (canon lift (core func $i "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))"#;

/// A command whose `run` returns an i64 where its type says i32: no compiler accepts it.
const DOES_NOT_COMPILE: &str = r#"(component
  (core module $m (func (export "run") (result i32) i64.const 1))
  (core instance $i (instantiate $m))
  (type $outcome (result))
  (func $run (result $outcome) (canon lift (core func $i "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))"#;

/// Exports `wasi:http/incoming-handler` whose `handle` takes no request and no response-out.
const WRONG_HANDLER: &str = r#"(component
  (core module $m (func (export "handle")))
  (core instance $i (instantiate $m))
  (func $handle (canon lift (core func $i "handle")))
  (instance $http (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $http)))"#;

/// `text` as a component file in `dir`.
fn component(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let bytes = wat::parse_str(text).expect("the test component's text");
    let path = dir.path().join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write the component");
    path
}

/// Deploys `component` as `name` (with `spec` flow entries) and checks the pod says `reason` with
/// a message holding `cause`, as its status, an event and in `describe`. Returns the message.
fn says_why(
    cluster: &Cluster,
    name: &str,
    component: &Path,
    spec: &str,
    reason: &str,
    cause: &str,
) -> String {
    let out = cluster.apply(
        &format!("{name}.yaml"),
        &deployment_yaml(name, component, 1, "", spec),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod = wait_until(&format!("pod {name} says {reason}"), WAIT, || {
        cluster
            .items("pods")
            .into_iter()
            .find(|p| p["metadata"]["labels"]["app"] == name && p["status"]["reason"] == reason)
    });
    let message = pod["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains(cause), "{pod}");
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let event = wait_until("a warning event about it", WAIT, || {
        cluster.items("events").into_iter().find(|e| {
            e["spec"]["involvedObject"]["name"] == pod_name.as_str()
                && e["spec"]["reason"] == reason
        })
    });
    assert_eq!(event["spec"]["type"], "Warning", "{event}");
    assert!(
        event["spec"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(cause)),
        "{event}"
    );
    let described = cluster.cli_ok(&["describe", "pod", &pod_name]);
    assert!(
        described.contains(&format!("reason: {reason}")),
        "{described}"
    );
    assert!(described.contains(cause), "{described}");
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains(reason), "{described}");
    message
}

#[test]
fn code_the_compiler_refuses_is_a_compile_error_naming_the_compilers_complaint() {
    let cluster = Cluster::up(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = component(&dir, "broken", DOES_NOT_COMPILE);
    let message = says_why(
        &cluster,
        "broken",
        &path,
        "",
        "CompileError",
        "type mismatch",
    );
    assert!(
        message.contains("cannot compile component sha256:"),
        "{message}"
    );
}

#[test]
fn an_http_export_of_the_wrong_shape_is_the_wrong_world() {
    let cluster = Cluster::up(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = component(&dir, "wrong-handler", WRONG_HANDLER);
    let message = says_why(
        &cluster,
        "wrong-handler",
        &path,
        "",
        "WrongWorld",
        "wasi:http/incoming-handler",
    );
    // Expected (a proxy's handler) against found (wasmtime's type check of the export).
    assert!(message.contains("not a wasi:http proxy"), "{message}");
    assert!(message.contains("expected wasi:http/incoming-handler@0.2.0 to export `handle: func(request: own<incoming-request>"), "{message}");
    assert!(message.contains("found `handle: func()`"), "{message}");
}

#[test]
fn a_command_given_an_http_pods_probe_is_the_wrong_world() {
    let cluster = Cluster::up(&[]);
    let crasher = components().crasher.clone();
    let message = says_why(
        &cluster,
        "probed-command",
        &crasher,
        ", readinessProbe: {httpGet: {path: /ready}}",
        "WrongWorld",
        "readinessProbe",
    );
    assert!(
        message.contains("expected an export of wasi:http/incoming-handler"),
        "{message}"
    );
    assert!(message.contains("found wasi:cli/run"), "{message}");
}

#[test]
fn a_trap_in_wasi_cli_run_is_a_start_trap_naming_the_trap() {
    let cluster = Cluster::up(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = component(&dir, "trapper", TRAPS_IN_RUN);
    let message = says_why(&cluster, "trapper", &path, "", "StartTrap", "unreachable");
    assert!(message.starts_with("in wasi:cli/run: "), "{message}");
}

#[test]
fn bytes_that_are_no_component_are_refused_at_apply_naming_why() {
    let cluster = Cluster::up(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let hello = std::fs::read(&components().hello).expect("hello component");
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "not-wasm",
            b"#!/bin/sh\necho hello\n".to_vec(),
            "not a WebAssembly binary",
        ),
        (
            "truncated",
            hello[..hello.len() / 2].to_vec(),
            "malformed WebAssembly component",
        ),
        (
            "core-module",
            wat::parse_str("(module (func (export \"_start\")))").expect("core module"),
            "a core WebAssembly module, not a component",
        ),
    ];
    for (name, bytes, why) in cases {
        let path = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).expect("write");
        let out = cluster.apply(
            &format!("{name}.yaml"),
            &deployment_yaml(name, &path, 1, "", ""),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(why), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}.wasm")),
            "{name} names the file: {stderr}"
        );
    }
    assert!(cluster.items("pods").is_empty());
}
