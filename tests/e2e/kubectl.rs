//! A kubectl user's habits (issue 18), each through the real binary against `wasmpod up`:
//! label and field selectors served by the API (lists and watches), `TYPE/NAME` and several
//! names, `get all`, global flags before the verb, `-A`'s NAMESPACE column, `-o name|jsonpath|
//! custom-columns`, `--no-headers`, `--show-labels`, `--sort-by`, `describe` endpoints and node
//! allocation, create-only writes (409 AlreadyExists), dry runs that store nothing, `diff`,
//! Namespaces, `wait`, `edit` refusing a concurrent change, `patch`, `label`, `annotate`,
//! `set image`, `completion`, `api-resources`, `explain` and `version`. Bad input is refused
//! with an error naming what is wrong, and the stored state is untouched.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use wasmpod_tests::{components, deployment_yaml, http_app, wasmpod_bin, Cluster};

const WAIT: &str = "60s";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the CLI, expecting it to fail; returns stderr.
fn cli_fails(cluster: &Cluster, args: &[&str]) -> String {
    let out = cluster.cli(args);
    assert!(
        !out.status.success(),
        "{args:?} should fail; it printed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

/// The CLI with extra environment variables and optional standard input.
fn cli_with(cluster: &Cluster, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(wasmpod_bin());
    command
        .args(args)
        .env("WASMPOD_SERVER", &cluster.api)
        .env("WASMPOD_CONFIG", cluster.work.path().join("config"))
        .env_remove("WASMPOD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("wasmpod runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wasmpod exits")
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

fn json(cluster: &Cluster, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&cluster.cli_ok(args)).expect("json output")
}

/// The change events a watch sends within `within` (the stream is cut by the timeout).
fn watch_events(url: &str, within: Duration) -> Vec<serde_json::Value> {
    let client = reqwest::blocking::Client::builder()
        .timeout(within)
        .build()
        .expect("client");
    let response = client.get(url).send().expect("watch");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    BufReader::new(response)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|e| e["type"] != "BOOKMARK")
        .collect()
}

#[test]
fn selectors_type_name_global_flags_and_output_formats() {
    let cluster = Cluster::up(&[]);
    let hello = &components().hello;
    let before: serde_json::Value = cluster.api_json("/api/v1/pods");
    let revision = before["revision"].as_u64().expect("revision");
    let manifest = format!(
        "{}---\n{}",
        http_app("hello", hello, 2, "/hello"),
        deployment_yaml("other", hello, 1, ", tier: db", "")
    );
    let out = cluster.apply("apps.yaml", &manifest);
    assert!(out.status.success(), "{}", stderr(&out));
    let waited = cluster.cli_ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/hello",
        "deployment/other",
        "--timeout",
        WAIT,
    ]);
    assert!(
        waited.contains("deployment/hello condition met"),
        "{waited}"
    );

    // Label selectors: equality and set-based, evaluated by the API.
    let names = |selector: &str| -> Vec<String> {
        let out = cluster.cli_ok(&["get", "pods", "-l", selector, "-o", "name"]);
        let mut names: Vec<String> = lines(&out).iter().map(|s| s.to_string()).collect();
        names.sort();
        names
    };
    let hello_pods = names("app=hello");
    assert_eq!(hello_pods.len(), 2, "{hello_pods:?}");
    assert!(
        hello_pods.iter().all(|n| n.starts_with("pod/hello-")),
        "{hello_pods:?}"
    );
    assert_eq!(names("app==hello"), hello_pods);
    assert_eq!(names("app in (hello,other)").len(), 3);
    assert_eq!(names("!tier"), hello_pods);
    let other = names("app notin (hello)");
    assert_eq!(other.len(), 1);
    assert!(other[0].starts_with("pod/other-"), "{other:?}");
    assert_eq!(names("app!=hello"), other);
    assert_eq!(names("tier"), other);
    assert_eq!(names("app=hello,tier=db").len(), 0);
    // The raw API too, and on a watch: only matching objects' changes are sent.
    let listed = cluster.api_json("/api/v1/pods?labelSelector=app%3Dother");
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let events = watch_events(
        &format!(
            "{}/api/v1/pods?watch=true&revision={revision}&labelSelector=app%20in%20%28other%29",
            cluster.api
        ),
        Duration::from_secs(2),
    );
    assert!(!events.is_empty(), "the watch sent the other pod's changes");
    for event in &events {
        assert_eq!(
            event["object"]["metadata"]["labels"]["app"], "other",
            "a watch with a selector sent {event}"
        );
    }
    // A bad selector: refused, naming the part at fault.
    let error = cli_fails(&cluster, &["get", "pods", "-l", "app=hello,tier in (db"]);
    assert!(error.contains("tier in (db"), "{error}");
    let error = cli_fails(&cluster, &["get", "pods", "-l", "app=he llo"]);
    assert!(error.contains("he llo"), "{error}");

    // Field selectors.
    let on_node = cluster.cli_ok(&[
        "get",
        "pods",
        "--field-selector",
        "spec.nodeName=local-1",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&on_node).len(), 3, "{on_node}");
    let running = cluster.cli_ok(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Running,spec.nodeName!=elsewhere",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&running).len(), 3, "{running}");
    let none = cluster.cli_ok(&[
        "get",
        "pods",
        "--field-selector",
        "spec.nodeName=elsewhere",
        "-o",
        "name",
    ]);
    assert!(none.trim().is_empty(), "{none}");
    let error = cli_fails(
        &cluster,
        &["get", "pods", "--field-selector", "spec.image=x"],
    );
    assert!(
        error.contains("spec.image") && error.contains("spec.nodeName"),
        "{error}"
    );

    // TYPE/NAME, several names, several kinds, `get all`.
    assert!(cluster.cli_ok(&["get", "deploy/hello"]).contains("2/2"));
    let two = cluster.cli_ok(&["get", "deploy", "hello", "other", "--no-headers"]);
    assert_eq!(lines(&two).len(), 2, "{two}");
    let mixed = cluster.cli_ok(&["get", "deploy/hello", "svc/hello", "-o", "name"]);
    assert_eq!(lines(&mixed), ["deployment/hello", "service/hello"]);
    let all = cluster.cli_ok(&["get", "all"]);
    for expected in [
        "deployment/hello",
        "deployment/other",
        "service/hello",
        "pod/hello-",
        "ingress/hello",
    ] {
        assert!(
            all.contains(expected),
            "{expected} missing from get all:\n{all}"
        );
    }
    let error = cli_fails(&cluster, &["get", "deploy", "hello", "nope"]);
    assert!(error.contains("deployment/nope not found"), "{error}");

    // One list of kinds: the error and every verb's help name them all.
    let error = cli_fails(&cluster, &["get", "podz"]);
    for kind in wasmpod_api::Kind::ALL {
        assert!(
            error.contains(kind.plural()),
            "{} missing from: {error}",
            kind.plural()
        );
    }
    for verb in ["get", "describe"] {
        let help = cluster.cli_ok(&[verb, "--help"]);
        for kind in wasmpod_api::Kind::ALL {
            assert!(
                help.contains(kind.plural()),
                "{verb} --help lacks {}:\n{help}",
                kind.plural()
            );
        }
    }
    let help = cluster.cli_ok(&["scale", "--help"]);
    assert!(
        help.contains("statefulsets") && !help.contains("configmaps"),
        "{help}"
    );

    // Global flags before the verb.
    let before_verb = cluster.cli_ok(&["-n", "default", "-o", "name", "get", "deploy", "hello"]);
    assert_eq!(before_verb.trim(), "deployment/hello");
    let with_server = cluster.cli_ok(&["--server", &cluster.api, "get", "svc/hello", "-o", "name"]);
    assert_eq!(with_server.trim(), "service/hello");

    // -A adds a NAMESPACE column: two objects of the same name are told apart.
    cluster.cli_ok(&["create", "namespace", "dev"]);
    cluster.cli_ok(&["create", "configmap", "same", "--from-literal", "k=v"]);
    cluster.cli_ok(&[
        "-n",
        "dev",
        "create",
        "configmap",
        "same",
        "--from-literal",
        "k=v",
    ]);
    let table = cluster.cli_ok(&["get", "cm", "-A"]);
    assert!(table.starts_with("NAMESPACE"), "{table}");
    let rows: Vec<Vec<&str>> = lines(&table)
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.iter().any(|r| r[..2] == ["default", "same"]),
        "{table}"
    );
    assert!(rows.iter().any(|r| r[..2] == ["dev", "same"]), "{table}");

    // Output formats and table options.
    let columns = cluster.cli_ok(&[
        "get",
        "deploy",
        "-o",
        "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas",
        "--sort-by",
        ".spec.replicas",
    ]);
    let rows: Vec<Vec<&str>> = lines(&columns)
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "REPLICAS"],
            vec!["other", "1"],
            vec!["hello", "2"]
        ]
    );
    let path = cluster.cli_ok(&[
        "get",
        "pods",
        "-l",
        "app=hello",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}"#,
    ]);
    assert_eq!(lines(&path).len(), 2, "{path}");
    assert!(
        lines(&path).iter().all(|l| l.ends_with(" local-1")),
        "{path}"
    );
    let one = cluster.cli_ok(&["get", "deploy/hello", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(one, "2");
    let labels = cluster.cli_ok(&[
        "get",
        "pods",
        "-l",
        "app=other",
        "--show-labels",
        "--no-headers",
    ]);
    assert!(
        labels.contains("app=other,") && labels.contains(",tier=db"),
        "{labels}"
    );
    assert!(!labels.contains("NAME"), "{labels}");
    let error = cli_fails(&cluster, &["get", "pods", "-o", "jsonpath={.items[x]}"]);
    assert!(error.contains("[x]"), "{error}");

    // scale, logs and delete take TYPE/NAME; a server dry run changes nothing.
    cluster.cli_ok(&[
        "scale",
        "deployment/hello",
        "--replicas",
        "3",
        "--dry-run=server",
    ]);
    assert_eq!(
        cluster.cli_ok(&["get", "deploy/hello", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );
    cluster.cli_ok(&["scale", "deployment/hello", "--replicas", "3"]);
    cluster.cli_ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/hello",
        "--timeout",
        WAIT,
    ]);
    cluster.cli_ok(&["logs", "deploy/hello"]);
    cluster.cli_ok(&["logs", "-l", "app=hello"]);
    let error = cli_fails(&cluster, &["logs", "service/hello"]);
    assert!(error.contains("services cannot be used here"), "{error}");

    // describe: a service's endpoints, a node's pods and allocation.
    let service = cluster.cli_ok(&["describe", "svc/hello"]);
    let endpoints = service
        .split("Endpoints:")
        .nth(1)
        .expect("an Endpoints section");
    assert_eq!(endpoints.matches("hello-").count(), 3, "{service}");
    assert!(
        endpoints.contains("ready") && endpoints.contains("local-1"),
        "{service}"
    );
    let node = cluster.cli_ok(&["describe", "node/local-1"]);
    let pods = node.split("Pods:").nth(1).expect("a Pods section");
    assert_eq!(pods.matches("hello-").count(), 3, "{node}");
    assert!(pods.contains("other-"), "{node}");
    let allocated = node
        .split("Allocated resources:")
        .nth(1)
        .expect("an allocation section");
    let pods_row: Vec<&str> = allocated
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pods "))
        .expect("a pods row")
        .split_whitespace()
        .collect();
    assert_eq!(pods_row[1], "4", "{node}");

    let out = cluster.cli_ok(&["delete", "pods", "-l", "app=hello", "--dry-run=server"]);
    assert_eq!(out.matches("(server dry run)").count(), 3, "{out}");
    assert_eq!(names("app=hello").len(), 3);
    let error = cli_fails(&cluster, &["delete", "pods"]);
    assert!(error.contains("-l"), "{error}");
    cluster.cli_ok(&["delete", "deployment/other"]);
    let error = cli_fails(&cluster, &["get", "deploy/other"]);
    assert!(error.contains("not found"), "{error}");
}

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
    let out = cli_with(&cluster, &["apply", "-f", "-"], &[], &yaml);
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
    assert!(error.contains("configmap/nope not found"), "{error}");
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
    let out = cli_with(
        &cluster,
        &["edit", "deploy/hello"],
        &[("EDITOR", &editor)],
        "",
    );
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
    let out = cli_with(
        &cluster,
        &["edit", "deployment", "hello"],
        &[("EDITOR", &editor)],
        "",
    );
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
    let out = cli_with(
        &cluster,
        &["edit", "deploy/hello"],
        &[("EDITOR", &editor)],
        "",
    );
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
