//! `wasi:keyvalue` beyond the HTTP round trips of `keyvalue.rs`: a command pod (`wasi:cli/run`)
//! opens the stores it lists and no other; a Redis store whose password Secret is missing holds
//! its pods with a reason naming the Secret, until the Secret comes; and `list-keys` on Redis
//! pages through more keys than one page, the cursor followed to the end, each key once.

use super::keyvalue::{applied, kv, kvtest_app, redis_with_password, serving, store, WAIT};
use std::collections::BTreeSet;
use wasmpod_api::PodPhase;
use wasmpod_tests::redis::Redis;
use wasmpod_tests::{components, deployment_yaml, wait_until, Cluster, ClusterApi};

/// The output of `wasmpod logs` of the one pod of `app`, once it holds `line`.
fn logs_with(cluster: &Cluster, app: &str, line: &str) -> String {
    wait_until(&format!("{app} logs {line:?}"), WAIT, || {
        let pod = cluster.pods_of_app(app).pop()?;
        let out = cluster.cli(&["logs", pod.name()]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains(line)).then_some(text)
    })
}

#[test]
fn a_command_pod_uses_the_stores_it_lists_and_no_other() {
    let redis = Redis::start();
    let cluster = Cluster::up(&[]);
    let yaml = format!(
        "{}{}",
        store(
            "default",
            "jobs",
            &format!("{{redis: {{url: '{}'}}}}", redis.url())
        ),
        deployment_yaml(
            "kvcmd",
            &components().kvcommand,
            1,
            "",
            ", keyValueStores: [jobs], env: [{name: KV_STORE, value: jobs}, \
             {name: KV_DENIED, value: private}]",
        ),
    );
    applied(&cluster, "kvcmd.yaml", &yaml);
    let logs = logs_with(&cluster, "kvcmd", "kvcommand private:");
    assert!(logs.contains("kvcommand runs=1\n"), "{logs}");
    assert!(logs.contains("kvcommand set from-command\n"), "{logs}");
    assert!(
        logs.contains("kvcommand private: access-denied\n"),
        "a store the pod does not list: {logs}"
    );
    assert_eq!(redis.get("wasmpod:default:jobs:runs"), "1");
    assert_eq!(
        redis.get("wasmpod:default:jobs:from-command"),
        "hello from a command"
    );
    let pod = cluster.pods_of_app("kvcmd").pop().expect("the pod");
    assert_eq!(pod.status.phase, PodPhase::Running, "{:?}", pod.status);
    assert_eq!(pod.status.restart_count, 0, "{:?}", pod.status);

    // The same command with no store listed: refused, and it says so.
    let denied = deployment_yaml(
        "kvcmd-none",
        &components().kvcommand,
        1,
        "",
        ", env: [{name: KV_STORE, value: jobs}]",
    );
    applied(&cluster, "none.yaml", &denied);
    let logs = logs_with(&cluster, "kvcmd-none", "kvcommand error:");
    assert!(logs.contains("kvcommand error: access-denied"), "{logs}");
    assert_eq!(
        redis.get("wasmpod:default:jobs:runs"),
        "1",
        "no second run counted"
    );
}

#[test]
fn a_redis_store_whose_password_secret_is_missing_holds_its_pods_naming_the_secret() {
    let redis = Redis::with_password("s3cret");
    let cluster = Cluster::up(&[]);
    // A store may come before its Secret, as a pod may before its ConfigMap: accepted.
    let yaml = format!(
        "{}{}",
        kvtest_app("shop", "shared"),
        store("shop", "shared", &redis_with_password(&redis.url())),
    );
    applied(&cluster, "kv.yaml", &yaml);
    let (reason, message) = wait_until("the pod's reason", WAIT, || {
        let pod = cluster.pods_of_app("kvtest").pop()?;
        Some((pod.status.reason?, pod.status.message?))
    });
    assert_eq!(reason, "CreateContainerConfigError", "{message}");
    assert_eq!(
        message,
        "secret \"redis-pw\" not found (referenced by keyvaluestore \"shared\" \
         spec.redis.passwordSecretRef, used by spec.keyValueStores[0])"
    );
    let events = cluster.cli_ok(&["get", "events", "-n", "shop"]);
    assert!(
        events.contains("CreateContainerConfigError") && events.contains("redis-pw"),
        "{events}"
    );
    assert!(cluster
        .pods_of_app("kvtest")
        .iter()
        .all(|p| !p.status.ready));

    // The Secret arrives: the pod starts and reaches Redis with the password.
    applied(
        &cluster,
        "secret.yaml",
        "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {name: redis-pw, namespace: shop}\n\
         stringData: {password: s3cret}\n",
    );
    serving(&cluster.ingress, "shop");
    assert_eq!(
        kv(&cluster.ingress, "shop", "PUT", "/kv/shared/k", Some("v")),
        (200, "set".into())
    );
    assert_eq!(redis.get("wasmpod:shop:shared:k"), "v");
}

#[test]
fn redis_list_keys_follows_the_cursor_across_pages_to_every_key_once() {
    const KEYS: usize = 2500; // two and a half pages of 1,000
    let redis = Redis::start();
    let cluster = Cluster::up(&[]);
    let yaml = format!(
        "{}{}",
        kvtest_app("big", "many"),
        store(
            "big",
            "many",
            &format!("{{redis: {{url: '{}'}}}}", redis.url())
        ),
    );
    applied(&cluster, "kv.yaml", &yaml);
    serving(&cluster.ingress, "big");
    // The store's keys, and as many of another store that the listing must skip.
    let mut mset = vec!["MSET".to_string()];
    for i in 0..KEYS {
        mset.push(format!("wasmpod:big:many:key-{i:05}"));
        mset.push(i.to_string());
        mset.push(format!("wasmpod:big:other:key-{i:05}"));
        mset.push(i.to_string());
    }
    let args: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(redis.command(&args).expect("MSET"), "+OK");

    let (status, body) = kv(&cluster.ingress, "big", "GET", "/keys/many?pages=1", None);
    assert_eq!(status, 200, "{body}");
    let mut lines = body.lines();
    let pages: usize = lines
        .next()
        .and_then(|l| l.strip_prefix("pages: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a page count first: {}", &body[..body.len().min(200)]));
    assert!(pages >= 2, "{pages} pages for {KEYS} keys");
    let keys: Vec<&str> = lines.collect();
    let unique: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(unique.len(), keys.len(), "no key twice");
    let expected: BTreeSet<String> = (0..KEYS).map(|i| format!("key-{i:05}")).collect();
    let found: BTreeSet<String> = unique.iter().map(|k| k.to_string()).collect();
    assert_eq!(found, expected, "every key of the store and no other");
}
