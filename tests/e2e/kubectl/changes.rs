//! Changing what exists: `wait`, `patch`, `edit` (refusing a concurrent change), `label`,
//! `annotate`, `set image`, `wait --for=delete`.

use super::{cli_fails, lines, stderr, stdout, WAIT};
use wasmpod_tests::{components, deployment_yaml, wasmpod_bin, Cluster};

#[test]
fn wait_edit_patch_label_annotate_and_set_image() {
    let cluster = Cluster::up(&[]);
    let hello = &components().hello;
    let out = cluster.apply("hello.yaml", &deployment_yaml("hello", hello, 1, "", ""));
    assert!(out.status.success(), "{}", stderr(&out));
    cluster.cli_ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/hello",
        "--timeout",
        WAIT,
    ]);
    let ready = cluster.cli_ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "app=hello",
        "--timeout",
        WAIT,
    ]);
    assert!(ready.contains("condition met"), "{ready}");
    let error = cli_fails(
        &cluster,
        &[
            "wait",
            "--for=condition=Ready",
            "deploy/nope",
            "--timeout=5s",
        ],
    );
    assert!(error.contains("deployment/nope not found"), "{error}");
    // A deployment no node can run never becomes Available: the wait times out, exit 1.
    let stuck = deployment_yaml("stuck", hello, 1, "", ", nodeSelector: {disk: none}");
    assert!(cluster.apply("stuck.yaml", &stuck).status.success());
    let error = cli_fails(
        &cluster,
        &[
            "wait",
            "--for=condition=Available",
            "deploy/stuck",
            "--timeout=2s",
        ],
    );
    assert!(
        error.contains("timed out") && error.contains("deployment/stuck"),
        "{error}"
    );
    let error = cli_fails(&cluster, &["wait", "--for=condition=Happy", "deploy/stuck"]);
    assert!(error.contains("condition=Happy"), "{error}");

    let replicas = || cluster.cli_ok(&["get", "deploy/hello", "-o", "jsonpath={.spec.replicas}"]);

    // patch: a JSON merge patch; a malformed one changes nothing.
    let out = cluster.cli_ok(&[
        "patch",
        "deployment/hello",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert!(out.contains("deployment/hello patched"), "{out}");
    assert_eq!(replicas(), "2");
    let error = cli_fails(
        &cluster,
        &["patch", "deploy/hello", "-p", r#"{"spec":{"replicas":"#],
    );
    assert!(error.contains("not JSON"), "{error}");
    let error = cli_fails(
        &cluster,
        &["patch", "deploy/hello", "-p", r#"{"spec":{"replicas":-1}}"#],
    );
    assert!(error.contains("replicas"), "{error}");
    assert_eq!(replicas(), "2");

    // edit: the editor's change is written...
    let script = cluster.work.path().join("edit.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 3/' \"$1\"\n",
    )
    .expect("script");
    let editor = format!("sh {}", script.display());
    let out = cluster.cli_with(&["edit", "deploy/hello"], &[("EDITOR", &editor)], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(replicas(), "3");
    // ... but not over a change someone made while the editor was open.
    let racing = cluster.work.path().join("race.sh");
    std::fs::write(
        &racing,
        format!(
            "#!/bin/sh\n'{}' scale deployment hello --replicas 1 >/dev/null\nsed -i 's/replicas: 3/replicas: 5/' \"$1\"\n",
            wasmpod_bin().display()
        ),
    )
    .expect("script");
    let editor = format!("sh {}", racing.display());
    let out = cluster.cli_with(&["edit", "deployment", "hello"], &[("EDITOR", &editor)], "");
    assert!(
        !out.status.success(),
        "a stale edit was written: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("changed by someone else"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        replicas(),
        "1",
        "the concurrent scale must win, not the stale edit"
    );
    // An editor that breaks the YAML changes nothing.
    let breaking = cluster.work.path().join("break.sh");
    std::fs::write(&breaking, "#!/bin/sh\necho ': : [' >> \"$1\"\n").expect("script");
    let editor = format!("sh {}", breaking.display());
    let out = cluster.cli_with(&["edit", "deploy/hello"], &[("EDITOR", &editor)], "");
    assert!(
        !out.status.success() && stderr(&out).contains("not YAML"),
        "{}",
        stderr(&out)
    );
    assert_eq!(replicas(), "1");

    // label and annotate: set, refuse a silent overwrite, overwrite, remove; selectors see it.
    cluster.cli_ok(&["label", "deploy/hello", "tier=web"]);
    assert_eq!(
        lines(&cluster.cli_ok(&["get", "deploy", "-l", "tier=web", "-o", "name"])),
        ["deployment/hello"]
    );
    let error = cli_fails(&cluster, &["label", "deploy/hello", "tier=db"]);
    assert!(error.contains("--overwrite"), "{error}");
    cluster.cli_ok(&["label", "deploy/hello", "tier=db", "--overwrite"]);
    assert_eq!(
        lines(&cluster.cli_ok(&["get", "deploy", "-l", "tier in (db)", "-o", "name"])),
        ["deployment/hello"]
    );
    cluster.cli_ok(&["label", "deploy/hello", "tier-"]);
    assert!(cluster
        .cli_ok(&["get", "deploy", "-l", "tier", "-o", "name"])
        .trim()
        .is_empty());
    let error = cli_fails(&cluster, &["label", "deploy/hello", "bad key=x"]);
    assert!(error.contains("bad key"), "{error}");
    cluster.cli_ok(&[
        "annotate",
        "deployment",
        "hello",
        "note=any text, even with spaces",
    ]);
    let note = cluster.cli_ok(&[
        "get",
        "deploy/hello",
        "-o",
        "jsonpath={.metadata.annotations.note}",
    ]);
    assert_eq!(note, "any text, even with spaces");

    // Nodes take labels too (for nodeSelector); a heartbeat in between is read again, and a
    // server dry run writes nothing.
    cluster.cli_ok(&["label", "node/local-1", "disk=ssd", "--dry-run=server"]);
    assert!(cluster
        .cli_ok(&["get", "nodes", "-l", "disk", "-o", "name"])
        .trim()
        .is_empty());
    cluster.cli_ok(&["label", "node", "local-1", "disk=ssd"]);
    assert_eq!(
        lines(&cluster.cli_ok(&["get", "nodes", "-l", "disk=ssd", "-o", "name"])),
        ["node/local-1"]
    );

    // set image: the component is uploaded and the template pinned to its digest.
    let other = &components().misbehave;
    let out = cluster.cli_ok(&[
        "set",
        "image",
        "deployment/hello",
        other.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("deployment/hello image updated"), "{out}");
    let component = cluster.cli_ok(&[
        "get",
        "deploy/hello",
        "-o",
        "jsonpath={.spec.template.spec.component}",
    ]);
    assert!(component.starts_with("sha256:"), "{component}");
    let stored = reqwest::blocking::get(format!("{}/api/v1/blobs/{component}", cluster.api))
        .expect("blob request");
    assert_eq!(stored.status().as_u16(), 200, "the component was uploaded");
    let not_wasm = cluster.work.path().join("edit.sh");
    let error = cli_fails(
        &cluster,
        &[
            "set",
            "image",
            "deploy/hello",
            not_wasm.to_str().expect("utf-8"),
        ],
    );
    assert!(error.contains("edit.sh"), "{error}");
    assert_eq!(
        cluster.cli_ok(&[
            "get",
            "deploy/hello",
            "-o",
            "jsonpath={.spec.template.spec.component}"
        ]),
        component
    );

    // wait --for=delete follows the pods out.
    cluster.cli_ok(&["delete", "deploy/hello", "deploy/stuck"]);
    cluster.cli_ok(&[
        "wait",
        "--for=delete",
        "pod",
        "-l",
        "app=hello",
        "--timeout",
        WAIT,
    ]);
    assert!(cluster
        .cli_ok(&["get", "pods", "-l", "app=hello", "-o", "name"])
        .trim()
        .is_empty());
}
