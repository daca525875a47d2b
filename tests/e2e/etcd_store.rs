//! A control plane on etcd (`wasmpod server --store etcd://...`): it runs the hello sample like
//! one on sled, and its objects outlive the server process, since they live in etcd.

use std::time::Duration;
use wasmpod_tests::etcd::Etcd;
use wasmpod_tests::{components, http_app, http_get, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_server_on_etcd_runs_hello_and_keeps_its_objects_across_a_restart() {
    let etcd = Etcd::start(1);
    let store = etcd.store_url();
    let flags = ["--store", store.as_str(), "--store-prefix", "/e2e-hello/"];
    let mut cluster = MultiNode::start_with(&flags);
    let gateway = cluster.add_worker("node-a", &[]);
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 1, "/hello"),
    );
    wait_until("hello answers through ingress", WAIT, || {
        let (status, body) = http_get(&format!("{gateway}/hello"));
        (status == 200).then_some(body)
    });
    // Nothing went to a sled store in the data directory.
    assert!(!cluster.work.path().join("server/store").exists());

    cluster.restart_server(&flags);
    let deployments = wait_until("the API answers again", WAIT, || {
        cluster.try_items("deployments").ok()
    });
    assert!(
        deployments.iter().any(|d| d["metadata"]["name"] == "hello"),
        "{deployments:?}"
    );
    assert_eq!(cluster.items("services").len(), 1);
    assert_eq!(cluster.items("ingresses").len(), 1);
    // The restarted server's controllers act on what etcd holds, and the worker follows it.
    cluster.cli_ok(&["scale", "deployment", "hello", "--replicas", "2"]);
    wait_until("2 ready replicas after the restart", WAIT, || {
        (cluster.ready_pods("hello").len() == 2).then_some(())
    });
    let (status, body) = http_get(&format!("{gateway}/hello"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_bad_store_url_names_the_flag() {
    let output = std::process::Command::new(wasmpod_tests::wasmpod_bin())
        .args([
            "server",
            "--store",
            "etcd://nohostport",
            "--api-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("wasmpod runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--store etcd://nohostport") && stderr.contains("HOST:PORT"),
        "{stderr}"
    );
}

/// A server whose `--store` lists three members, one of them dead: every request is answered
/// (the client balances over the members, and a call that finds its member unavailable goes
/// to another), from the start on (the server checks its store when it starts) and for writes
/// and reads alike.
#[test]
fn a_dead_etcd_member_in_the_store_url_fails_no_request() {
    let mut etcd = Etcd::start(3);
    etcd.kill9(0);
    let store = etcd.store_url();
    let cluster = MultiNode::start_with(&["--store", store.as_str()]);
    for i in 0..30 {
        let yaml = format!(
            "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{value: v{i}}}\n"
        );
        cluster.apply(&format!("cm-{i}.yaml"), &yaml);
        assert_eq!(cluster.items("configmaps").len(), i + 1);
    }
}
