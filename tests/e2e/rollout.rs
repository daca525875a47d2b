//! The everyday loop: rebuild, `apply` again. A Deployment re-applied with a changed env or a
//! changed component (new bytes at the same path) rolls to the new version: the new pods serve,
//! the old pods go, and not one request fails meanwhile.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmpod_tests::{components, name_of, pods_of, service_and_ingress, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(60);

fn manifest(component: &std::path::Path, version: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      component: {}
      env: [{{name: VERSION, value: {version}}}]
---
"#,
        component.display()
    ) + &service_and_ingress("web", "/")
}

/// What a loop of requests saw while it ran.
struct Seen {
    requests: usize,
    failures: Vec<(u16, String)>,
    bodies: BTreeSet<String>,
}

/// GETs `/env/VERSION` back to back until `stop` (at most 20,000 requests).
fn load(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut seen = Seen {
            requests: 0,
            failures: Vec::new(),
            bodies: BTreeSet::new(),
        };
        while !stop.load(Ordering::SeqCst) && seen.requests < 20_000 {
            seen.requests += 1;
            match client.get(&url).send() {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().unwrap_or_default();
                    if status == 200 {
                        seen.bodies.insert(body);
                    } else {
                        seen.failures.push((status, body));
                    }
                }
                Err(e) => seen.failures.push((0, e.to_string())),
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        seen
    })
}

/// The names of the `web` pods, once there are exactly two, all ready, none of them in `old`,
/// and the service answers `expect`.
fn rolled(cluster: &Cluster, old: &BTreeSet<String>, expect: &str) -> BTreeSet<String> {
    wait_until(&format!("the rollout to {expect:?}"), WAIT, || {
        let pods = pods_of(&cluster.items("pods"), "web");
        let names: BTreeSet<String> = pods.iter().map(name_of).collect();
        let done = pods.len() == 2
            && pods.iter().all(|p| p["status"]["ready"] == true)
            && names.is_disjoint(old)
            && (0..4).all(|_| cluster.get("/env/VERSION").1 == expect);
        done.then_some(names)
    })
}

#[test]
fn reapplied_deployment_rolls_to_the_new_version_without_a_failed_request() {
    let cluster = Cluster::up(&[]);
    let c = components();
    // The component the user rebuilds: always at the same path.
    let app = cluster.work.path().join("app.wasm");
    std::fs::copy(&c.misbehave, &app).expect("copy component");
    let out = cluster.apply("web.yaml", &manifest(&app, "v1"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v1 = rolled(&cluster, &BTreeSet::new(), "v1");

    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(format!("{}/env/VERSION", cluster.ingress), stop.clone());
    let started = Instant::now();

    // A changed env: a new template, new pods, the old ones gone.
    let out = cluster.apply("web.yaml", &manifest(&app, "v2"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deployment/web configured"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v2 = rolled(&cluster, &v1, "v2");

    // A rebuilt component at the same path (here: other bytes altogether) rolls out too.
    std::fs::copy(&c.hello, &app).expect("replace component");
    let out = cluster.apply("web.yaml", &manifest(&app, "v2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old: BTreeSet<String> = v1.union(&v2).cloned().collect();
    rolled(&cluster, &old, "Hello from wasmpod!\n");

    stop.store(true, Ordering::SeqCst);
    let seen = loader.join().expect("load thread");
    eprintln!(
        "{} requests during two rollouts in {:?}",
        seen.requests,
        started.elapsed()
    );
    assert!(
        seen.failures.is_empty(),
        "{} of {} requests failed during the rollouts, first: {:?}",
        seen.failures.len(),
        seen.requests,
        seen.failures.first()
    );
    assert!(
        seen.bodies.contains("v1") && seen.bodies.contains("Hello from wasmpod!\n"),
        "the loop saw the old and the new version: {:?}",
        seen.bodies
    );
    let deployment = cluster.items("deployments");
    assert_eq!(
        deployment[0]["status"]["updatedReplicas"], 2,
        "{deployment:?}"
    );
    let events = cluster.cli_ok(&["get", "events"]);
    assert!(events.contains("RollingUpdate"), "{events}");
}
