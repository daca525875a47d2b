//! `wasi:keyvalue` end to end: guests on real nodes against the embedded store and a real Redis
//! (`redis-server` started per test): every operation round trips, a pod opens only the stores
//! it lists, namespaces never share keys, the Redis password comes from a Secret (a wrong one is
//! an error the guest sees), and the counter sample counts every one of 1,000 concurrent visits
//! across 3 replicas on 2 nodes. (The embedded store surviving restarts of `up` and `kill -9` of
//! a worker: `storage.rs`, whose counter now counts in it.)

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmpod_tests::redis::Redis;
use wasmpod_tests::{
    components, deployment_yaml, http_call, sample_manifest, wait_until, Cluster, MultiNode,
};

pub(crate) const WAIT: Duration = Duration::from_secs(40);

/// A KeyValueStore document.
pub(crate) fn store(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: wasmpod.dev/v1\nkind: KeyValueStore\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n---\n"
    )
}

/// The spec of a Redis store at `url` whose password is key `password` of Secret `redis-pw`.
pub(crate) fn redis_with_password(url: &str) -> String {
    format!("{{redis: {{url: '{url}', passwordSecretRef: {{name: redis-pw, key: password}}}}}}")
}

/// The kvtest component in `namespace`, allowed `stores`, reachable at `http://HOST/` where
/// HOST is `<namespace>.kv.test`.
pub(crate) fn kvtest_app(namespace: &str, stores: &str) -> String {
    let deployment = deployment_yaml(
        "kvtest",
        &components().kvtest,
        1,
        "",
        &format!(", keyValueStores: [{stores}]"),
    )
    .replace(
        "metadata: {name: kvtest}",
        &format!("metadata: {{name: kvtest, namespace: {namespace}}}"),
    );
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Namespace
metadata: {{name: {namespace}}}
---
{deployment}apiVersion: wasmpod.dev/v1
kind: Service
metadata: {{name: kvtest, namespace: {namespace}}}
spec: {{selector: {{app: kvtest}}}}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {{name: kvtest, namespace: {namespace}}}
spec:
  rules:
  - host: {namespace}.kv.test
    http: {{paths: [{{path: /, backend: {{service: kvtest}}}}]}}
---
"#
    )
}

/// Calls the kvtest component of `namespace` through `ingress`: (status, body).
pub(crate) fn kv(
    ingress: &str,
    namespace: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let host = format!("{namespace}.kv.test");
    let reply = http_call(
        method,
        &format!("{ingress}{path}"),
        &[("host", &host)],
        body,
    );
    (reply.status, reply.body)
}

pub(crate) fn applied(cluster: &Cluster, name: &str, yaml: &str) {
    let out = cluster.apply(name, yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until the kvtest pod of `namespace` serves.
pub(crate) fn serving(ingress: &str, namespace: &str) {
    wait_until("the kvtest pod serves", WAIT, || {
        let answer = kv(ingress, namespace, "GET", "/nothing", None);
        (answer == (404, "no such route".to_string())).then_some(())
    });
}

/// Every operation of store, atomics and batch on `store`, with what the guest sees.
fn round_trips(ingress: &str, ns: &str, store: &str) {
    let call = |method: &str, path: &str, body: Option<&str>| {
        kv(ingress, ns, method, &path.replace("S", store), body)
    };
    assert_eq!(call("GET", "/kv/S/a", None), (404, "absent".into()));
    assert_eq!(call("PUT", "/kv/S/a", Some("one")), (200, "set".into()));
    assert_eq!(call("GET", "/kv/S/a", None), (200, "one".into()));
    assert_eq!(call("GET", "/exists/S/a", None), (200, "true".into()));
    assert_eq!(call("GET", "/exists/S/b", None), (200, "false".into()));
    assert_eq!(call("GET", "/incr/S/n?by=5", None), (200, "5".into()));
    assert_eq!(call("GET", "/incr/S/n?by=-2", None), (200, "3".into()));
    assert_eq!(call("GET", "/kv/S/n", None), (200, "3".into()));
    let (status, body) = call("GET", "/incr/S/a", None);
    assert_eq!(status, 500, "incrementing text: {body}");
    assert!(
        body.starts_with("other: ") && body.contains("integer"),
        "{body}"
    );

    assert_eq!(
        call("GET", "/cas/S/c?new=first", None),
        (200, "swapped".into())
    );
    assert_eq!(call("GET", "/kv/S/c", None), (200, "first".into()));
    assert_eq!(
        call("GET", "/cas/S/c?new=mine&race=theirs", None),
        (200, "failed (current theirs), retried: swapped".into())
    );
    assert_eq!(call("GET", "/kv/S/c", None), (200, "mine".into()));

    assert_eq!(
        call("PUT", "/batch/S", Some("x=1\ny=2")),
        (200, "set 2".into())
    );
    assert_eq!(
        call("GET", "/batch/S?keys=x,missing,y", None),
        (200, "x=1\nmissing absent\ny=2".into())
    );
    assert_eq!(call("GET", "/keys/S", None), (200, "a\nc\nn\nx\ny".into()));
    assert_eq!(
        call("DELETE", "/batch/S?keys=x,y", None),
        (200, "deleted 2".into())
    );
    assert_eq!(call("DELETE", "/kv/S/a", None), (200, "deleted".into()));
    assert_eq!(call("GET", "/keys/S", None), (200, "c\nn".into()));
}

#[test]
fn guests_use_both_backends_and_open_only_the_stores_they_list() {
    let redis = Redis::start();
    let cluster = Cluster::up(&[]);
    let yaml = format!(
        "{}{}{}",
        kvtest_app("shop", "default, shared, ghost"),
        store("shop", "default", "{embedded: {}}"),
        store(
            "shop",
            "shared",
            &format!("{{redis: {{url: '{}'}}}}", redis.url())
        ),
    );
    applied(&cluster, "kv.yaml", &yaml);
    serving(&cluster.ingress, "shop");

    round_trips(&cluster.ingress, "shop", "default");
    round_trips(&cluster.ingress, "shop", "shared");
    // The Redis store's keys are the namespace's and the store's.
    assert_eq!(redis.get("wasmpod:shop:shared:n"), "3");
    assert_eq!(redis.get("wasmpod:shop:shared:c"), "mine");
    assert_eq!(
        redis.get("wasmpod:shop:default:n"),
        "(nil)",
        "embedded stays embedded"
    );

    // Not listed: refused, whether or not such a store exists.
    applied(
        &cluster,
        "other.yaml",
        &store("shop", "other", "{embedded: {}}"),
    );
    let (ingress, ns) = (&cluster.ingress, "shop");
    assert_eq!(
        kv(ingress, ns, "GET", "/open/other", None),
        (403, "access-denied".into())
    );
    assert_eq!(
        kv(ingress, ns, "GET", "/kv/nope/k", None),
        (403, "access-denied".into())
    );
    // Listed but not declared.
    assert_eq!(
        kv(ingress, ns, "GET", "/open/ghost", None),
        (404, "no-such-store".into())
    );
    // Declared later: the pod picks it up.
    applied(
        &cluster,
        "ghost.yaml",
        &store("shop", "ghost", "{embedded: {}}"),
    );
    wait_until("the declared store opens", WAIT, || {
        (kv(ingress, ns, "GET", "/open/ghost", None) == (200, "opened".into())).then_some(())
    });
}

#[test]
fn stores_of_two_namespaces_never_see_each_other() {
    let redis = Redis::start();
    let cluster = Cluster::up(&[]);
    let redis_spec = format!("{{redis: {{url: '{}'}}}}", redis.url());
    let mut yaml = String::new();
    for ns in ["team-a", "team-b"] {
        yaml.push_str(&kvtest_app(ns, "default, shared"));
        yaml.push_str(&store(ns, "default", "{embedded: {}}"));
        yaml.push_str(&store(ns, "shared", &redis_spec));
    }
    applied(&cluster, "kv.yaml", &yaml);
    let ingress = &cluster.ingress;
    serving(ingress, "team-a");
    serving(ingress, "team-b");
    for store in ["default", "shared"] {
        let path = format!("/kv/{store}/secret");
        assert_eq!(kv(ingress, "team-a", "PUT", &path, Some("a's")).0, 200);
        assert_eq!(
            kv(ingress, "team-b", "GET", &path, None),
            (404, "absent".into())
        );
        assert_eq!(
            kv(ingress, "team-b", "GET", &format!("/keys/{store}"), None),
            (200, String::new())
        );
        assert_eq!(kv(ingress, "team-b", "PUT", &path, Some("b's")).0, 200);
        assert_eq!(
            kv(ingress, "team-a", "GET", &path, None),
            (200, "a's".into())
        );
        assert_eq!(
            kv(ingress, "team-b", "GET", &path, None),
            (200, "b's".into())
        );
    }
    assert_eq!(redis.get("wasmpod:team-a:shared:secret"), "a's");
    assert_eq!(redis.get("wasmpod:team-b:shared:secret"), "b's");
}

#[test]
fn redis_password_comes_from_the_secret_and_a_wrong_one_is_a_visible_error() {
    let redis = Redis::with_password("right-pass");
    let cluster = Cluster::up(&[]);
    let secret = |password: &str| {
        format!(
            "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {{name: redis-pw, namespace: shop}}\nstringData: {{password: {password}}}\n---\n"
        )
    };
    let yaml = format!(
        "{}{}{}",
        kvtest_app("shop", "shared"),
        secret("wrong-pass"),
        store("shop", "shared", &redis_with_password(&redis.url())),
    );
    applied(&cluster, "kv.yaml", &yaml);
    serving(&cluster.ingress, "shop");
    let (status, body) = kv(&cluster.ingress, "shop", "GET", "/kv/shared/k", None);
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("other: redis at 127.0.0.1:")
            && (body.contains("WRONGPASS") || body.to_lowercase().contains("password")),
        "the guest sees why: {body}"
    );
    assert!(
        !body.contains("wrong-pass"),
        "the password is never shown: {body}"
    );

    applied(&cluster, "secret.yaml", &secret("right-pass"));
    wait_until("the right password is used", WAIT, || {
        (kv(&cluster.ingress, "shop", "PUT", "/kv/shared/k", Some("v")).0 == 200).then_some(())
    });
    assert_eq!(redis.get("wasmpod:shop:shared:k"), "v");
}

#[test]
fn counter_on_redis_counts_every_concurrent_visit_across_nodes() {
    const VISITS: usize = 1000;
    const CLIENTS: usize = 50;
    let redis = Redis::start();
    let mut cluster = MultiNode::start();
    let gateways = vec![
        cluster.add_worker("node-a", &[]),
        cluster.add_worker("node-b", &[]),
    ];
    let manifest = sample_manifest("counter")
        .replace("replicas: 1", "replicas: 3")
        .replace(
            "  embedded: {}",
            &format!("  redis: {{url: '{}'}}", redis.url()),
        );
    assert!(manifest.contains("redis: {url:"), "{manifest}");
    cluster.apply("counter.yaml", &manifest);
    let nodes = wait_until("3 ready counters on 2 nodes", WAIT, || {
        let ready = cluster.ready_pods("counter");
        let nodes: BTreeSet<String> = ready.iter().map(|(_, n)| n.clone()).collect();
        (ready.len() == 3 && nodes.len() == 2).then_some(nodes)
    });
    assert_eq!(nodes.len(), 2);

    let seen = Arc::new(Mutex::new(Vec::with_capacity(VISITS)));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (seen, failures, next, gateways) = (
                seen.clone(),
                failures.clone(),
                next.clone(),
                gateways.clone(),
            );
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= VISITS {
                        break;
                    }
                    let url = format!("{}/counter", gateways[i % gateways.len()]);
                    let reply = client
                        .get(&url)
                        .header("authorization", "Bearer s3cret")
                        .send()
                        .and_then(|r| Ok((r.status().as_u16(), r.text()?)));
                    match reply {
                        Ok((200, body)) => {
                            let n: u64 = body
                                .trim()
                                .rsplit('#')
                                .next()
                                .and_then(|n| n.parse().ok())
                                .unwrap_or(0);
                            seen.lock().expect("seen").push(n);
                        }
                        other => failures
                            .lock()
                            .expect("failures")
                            .push(format!("{url}: {other:?}")),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let failures = failures.lock().expect("failures");
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let mut seen = seen.lock().expect("seen").clone();
    seen.sort_unstable();
    let expected: Vec<u64> = (1..=VISITS as u64).collect();
    assert_eq!(seen, expected, "every visit got its own number, none lost");
    assert_eq!(
        redis.get("wasmpod:default:default:visits"),
        VISITS.to_string()
    );
}

/// `requests` GETs of `url` from `clients` threads at once: the 200 bodies, and the failures.
fn concurrent_gets(
    url: &str,
    host: &str,
    requests: usize,
    clients: usize,
) -> (Vec<String>, Vec<String>) {
    let bodies = Arc::new(Mutex::new(Vec::with_capacity(requests)));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (bodies, failures, next) = (bodies.clone(), failures.clone(), next.clone());
            let (url, host) = (url.to_string(), host.to_string());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < requests {
                    let reply = client
                        .get(&url)
                        .header("host", &host)
                        .send()
                        .and_then(|r| Ok((r.status().as_u16(), r.text()?)));
                    match reply {
                        Ok((200, body)) => bodies.lock().expect("bodies").push(body),
                        other => failures
                            .lock()
                            .expect("failures")
                            .push(format!("{other:?}")),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let bodies = bodies.lock().expect("bodies").clone();
    let failures = failures.lock().expect("failures").clone();
    (bodies, failures)
}

/// The embedded store under concurrent increments: every one counted once, and the node keeps
/// serving (sled once ran on the request threads and deadlocked them under this load).
#[test]
fn embedded_store_counts_concurrent_increments_exactly() {
    const REQUESTS: usize = 300;
    let cluster = Cluster::up(&[]);
    let yaml = format!(
        "{}{}",
        kvtest_app("shop", "default"),
        store("shop", "default", "{embedded: {}}")
    );
    applied(&cluster, "kv.yaml", &yaml);
    serving(&cluster.ingress, "shop");
    let url = format!("{}/incr/default/hits", cluster.ingress);
    let (bodies, failures) = concurrent_gets(&url, "shop.kv.test", REQUESTS, 16);
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let mut seen: Vec<u64> = bodies.iter().filter_map(|b| b.parse().ok()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=REQUESTS as u64).collect::<Vec<_>>());
    assert_eq!(
        kv(&cluster.ingress, "shop", "GET", "/kv/default/hits", None),
        (200, REQUESTS.to_string())
    );
}
