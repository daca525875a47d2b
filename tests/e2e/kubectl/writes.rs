//! Writing: create-only (409 AlreadyExists), dry runs that store nothing, `diff`, Namespaces,
//! and `completion`, `api-resources`, `explain`, `version`.

use super::{cli_fails, json, lines, stderr, stdout};
use wasmpod_tests::Cluster;

fn config_data(cluster: &Cluster, name: &str) -> serde_json::Value {
    json(cluster, &["get", "configmap", name, "-o", "json"])["data"].clone()
}

#[test]
fn create_refuses_taken_names_dry_runs_store_nothing_and_namespaces_hold_objects() {
    let cluster = Cluster::up(&[]);

    // create on a taken name: 409 AlreadyExists, exit 1, nothing dropped.
    cluster.cli_ok(&[
        "create",
        "configmap",
        "c1",
        "--from-literal",
        "a=b",
        "--from-literal",
        "x=y",
    ]);
    let error = cli_fails(
        &cluster,
        &["create", "configmap", "c1", "--from-literal", "a=c"],
    );
    assert!(
        error.contains("already exists") && error.contains("409"),
        "{error}"
    );
    assert_eq!(
        config_data(&cluster, "c1"),
        serde_json::json!({"a": "b", "x": "y"})
    );
    cluster.cli_ok(&["create", "secret", "generic", "s1", "--from-literal", "k=v"]);
    let error = cli_fails(
        &cluster,
        &[
            "create",
            "secret",
            "generic",
            "s1",
            "--from-literal",
            "other=w",
        ],
    );
    assert!(error.contains("already exists"), "{error}");
    let secret = json(
        &cluster,
        &["get", "secret", "s1", "-o", "json", "--show-secrets"],
    );
    assert_eq!(secret["data"], serde_json::json!({"k": "dg=="}), "{secret}");
    // Values stay hidden in every format but with --show-secrets; the table tells sizes.
    let table = cluster.cli_ok(&["get", "secrets"]);
    assert!(table.contains("k (1 bytes)"), "{table}");
    let path = cluster.cli_ok(&["get", "secret", "s1", "-o", "jsonpath={.data.k}"]);
    assert_eq!(path, "<hidden: 1 bytes; use --show-secrets>");
    // ... unless the user asks for an update: --dry-run=client -o yaml | apply -f -.
    let yaml = cluster.cli_ok(&[
        "create",
        "configmap",
        "c1",
        "--from-literal",
        "a=c",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    let out = cluster.cli_with(&["apply", "-f", "-"], &[], &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("configmap/c1 configured"),
        "{}",
        stdout(&out)
    );
    assert_eq!(config_data(&cluster, "c1"), serde_json::json!({"a": "c"}));

    // Dry runs: validated (server) or printed (client), nothing stored.
    let manifest = cluster.manifest(
        "dry.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {k: v}\n",
    );
    let manifest = manifest.to_str().expect("utf-8");
    let out = cluster.cli_ok(&["apply", "-f", manifest, "--dry-run=server"]);
    assert!(
        out.contains("configmap/dry created (server dry run)"),
        "{out}"
    );
    let out = cluster.cli_ok(&["apply", "-f", manifest, "--dry-run=client"]);
    assert!(out.contains("configmap/dry configured (dry run)"), "{out}");
    cluster.cli_ok(&[
        "create",
        "configmap",
        "dry2",
        "--from-literal",
        "k=v",
        "--dry-run=server",
    ]);
    let error = cli_fails(
        &cluster,
        &[
            "create",
            "configmap",
            "c1",
            "--from-literal",
            "k=v",
            "--dry-run=server",
        ],
    );
    assert!(error.contains("already exists"), "{error}");
    let bad = cluster.manifest(
        "bad.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {\"not a key\": v}\n",
    );
    let error = cli_fails(
        &cluster,
        &[
            "apply",
            "-f",
            bad.to_str().expect("utf-8"),
            "--dry-run=server",
        ],
    );
    assert!(error.contains("not a key"), "{error}");
    cluster.cli_ok(&["delete", "configmap/c1", "--dry-run=server"]);
    cluster.cli_ok(&["delete", "configmap", "c1", "--dry-run=client"]);
    let names: Vec<String> = cluster
        .items("configmaps")
        .iter()
        .map(wasmpod_tests::name_of)
        .collect();
    assert_eq!(names, ["c1"], "dry runs stored or deleted something");
    let error = cli_fails(&cluster, &["delete", "configmap/nope", "--dry-run=server"]);
    assert!(
        error.contains(r#"configmaps "nope" not found (HTTP 404)"#),
        "{error}"
    );
    let error = cli_fails(&cluster, &["apply", "-f", manifest, "--dry-run=sometimes"]);
    assert!(error.contains("sometimes"), "{error}");

    // diff: nothing to show is exit 0; a change or a new object is exit 1 with the lines.
    let live = cluster.manifest(
        "c1.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {a: c}\n",
    );
    let out = cluster.cli(&["diff", "-f", live.to_str().expect("utf-8")]);
    assert!(
        out.status.success() && stdout(&out).is_empty(),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let changed = cluster.manifest(
        "c1-changed.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {a: d}\n---\napiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {name: s1}\nstringData: {k: hunter2}\n",
    );
    let out = cluster.cli(&["diff", "-f", changed.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.contains("-  a: c\n+  a: d"), "{diff}");
    assert!(
        diff.contains("secret/s1") && !diff.contains("hunter2") && !diff.contains("aHVudGVyMg"),
        "{diff}"
    );
    assert_eq!(
        config_data(&cluster, "c1"),
        serde_json::json!({"a": "c"}),
        "diff changed nothing"
    );

    // Namespaces: default always exists; deleting one deletes what it holds.
    let namespaces = cluster.cli_ok(&["get", "ns", "-o", "name"]);
    assert_eq!(lines(&namespaces), ["namespace/default"]);
    // An object in a namespace that does not exist is refused, nothing stored ...
    let error = cli_fails(
        &cluster,
        &[
            "-n",
            "dev",
            "create",
            "configmap",
            "early",
            "--from-literal",
            "k=v",
        ],
    );
    assert!(error.contains("namespace \"dev\" not found"), "{error}");
    // ... but a namespace and what it holds may come in one apply.
    let both = cluster.manifest(
        "ns.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: Namespace\nmetadata: {name: staging}\n---\napiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {name: in-staging, namespace: staging}\ndata: {k: v}\n",
    );
    let out = cluster.cli_ok(&["apply", "-f", both.to_str().expect("utf-8")]);
    assert!(
        out.contains("namespace/staging created") && out.contains("configmap/in-staging created"),
        "{out}"
    );
    cluster.cli_ok(&["delete", "ns/staging"]);
    cluster.cli_ok(&["create", "namespace", "dev"]);
    let error = cli_fails(&cluster, &["create", "namespace", "dev"]);
    assert!(error.contains("already exists"), "{error}");
    let error = cli_fails(&cluster, &["create", "namespace", "Not_Valid"]);
    assert!(error.contains("Not_Valid"), "{error}");
    cluster.cli_ok(&[
        "-n",
        "dev",
        "create",
        "configmap",
        "inside",
        "--from-literal",
        "k=v",
    ]);
    cluster.cli_ok(&[
        "create",
        "secret",
        "generic",
        "inside",
        "-n",
        "dev",
        "--from-literal",
        "k=v",
    ]);
    assert_eq!(
        lines(&cluster.cli_ok(&["get", "cm,secrets", "-n", "dev", "-o", "name"])).len(),
        2
    );
    let out = cluster.cli_ok(&["delete", "namespace", "dev"]);
    assert!(out.contains("namespace/dev deleted"), "{out}");
    assert!(cluster
        .cli_ok(&["get", "cm,secrets", "-n", "dev", "-o", "name"])
        .trim()
        .is_empty());
    assert_eq!(
        lines(&cluster.cli_ok(&["get", "ns", "-o", "name"])),
        ["namespace/default"]
    );
    let error = cli_fails(&cluster, &["delete", "ns/default"]);
    assert!(
        error.contains("default") && error.contains("cannot be deleted"),
        "{error}"
    );
    assert!(cluster
        .cli_ok(&["get", "cm", "c1", "-o", "name"])
        .contains("configmap/c1"));

    // completion, api-resources, explain, version.
    assert!(cluster.cli_ok(&["completion", "bash"]).contains("_wasmpod"));
    assert!(cluster
        .cli_ok(&["completion", "zsh"])
        .contains("#compdef wasmpod"));
    assert!(cluster
        .cli_ok(&["completion", "fish"])
        .contains("complete -c wasmpod"));
    let resources = cluster.cli_ok(&["api-resources"]);
    for kind in wasmpod_api::Kind::ALL {
        assert!(resources.contains(kind.plural()), "{resources}");
    }
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("namespaces") && l.contains("ns") && l.contains("false")),
        "{resources}"
    );
    let explained = cluster.cli_ok(&["explain", "deployment.spec.template.spec.component"]);
    assert!(explained.contains("sha256"), "{explained}");
    let error = cli_fails(&cluster, &["explain", "deployment.spec.nope"]);
    assert!(
        error.contains("spec.nope") && error.contains("spec.replicas"),
        "{error}"
    );
    let version = cluster.cli_ok(&["version"]);
    assert!(
        version.contains("Client Version: ") && version.contains("Server Version: "),
        "{version}"
    );
}
