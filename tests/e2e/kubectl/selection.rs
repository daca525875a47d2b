//! Selecting and showing: label and field selectors (lists and watches), `TYPE/NAME`, `get all`,
//! the one list of kinds, global flags before the verb, `-A`, the output formats, `describe`.

use super::{cli_fails, lines, stderr, watch_events, WAIT};
use std::time::Duration;
use wasmpod_tests::{components, deployment_yaml, http_app, Cluster};

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
    assert!(
        error.contains(r#"deployments "nope" not found (HTTP 404)"#),
        "{error}"
    );

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

#[test]
fn an_object_that_leaves_a_watched_selection_is_sent_as_deleted() {
    let cluster = Cluster::up(&[]);
    let revision = cluster.api_json("/api/v1/configmaps")["revision"]
        .as_u64()
        .expect("revision");
    cluster.cli_ok(&["create", "configmap", "moving", "--from-literal", "a=1"]);
    cluster.cli_ok(&["create", "configmap", "staying", "--from-literal", "a=1"]);
    cluster.cli_ok(&["label", "configmap/moving", "team=a"]);
    cluster.cli_ok(&["label", "configmap/staying", "team=a"]);
    cluster.cli_ok(&["label", "configmap/moving", "team=b", "--overwrite"]);
    cluster.cli_ok(&["label", "configmap/staying", "note=kept"]);
    let events = watch_events(
        &format!(
            "{}/api/v1/configmaps?watch=true&revision={revision}&labelSelector=team%3Da",
            cluster.api
        ),
        Duration::from_secs(2),
    );
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let of = |name: &str| -> Vec<&str> {
        seen.iter()
            .filter(|(_, n)| n == name)
            .map(|(t, _)| t.as_str())
            .collect()
    };
    // Created without the label: not sent. Labelled team=a: sent. Relabelled team=b: DELETED.
    assert_eq!(of("moving"), ["MODIFIED", "DELETED"], "{seen:?}");
    assert_eq!(of("staying"), ["MODIFIED", "MODIFIED"], "{seen:?}");
}
