//! The web dashboard in a real browser (headless Chromium over the DevTools Protocol): a wrong
//! token is refused, the admin token signs in, and each page shows what the cluster holds —
//! nodes, pods and their phases, deployment counts, services and routes, events — and keeps up
//! with it: a log line a request produced and a scaled deployment's new pod appear without a
//! reload. With `WASMPOD_SCREENSHOTS=1` the pages are written to docs/ for the README.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use wasmpod_tests::browser::Browser;
use wasmpod_tests::{components, crasher_app, http_app, http_get, name_of, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(40);

/// Where a page's screenshot goes when `WASMPOD_SCREENSHOTS=1` (else nowhere).
pub(crate) fn screenshot(browser: &mut Browser, name: &str) {
    if std::env::var("WASMPOD_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let path: PathBuf = wasmpod_tests::repo_root().join("docs").join(name);
    std::fs::create_dir_all(path.parent().expect("docs/")).expect("docs/ exists");
    // Let the last redraw and any transition settle before the picture.
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(&path);
}

fn phase(pod: &Value) -> String {
    pod["status"]["phase"]
        .as_str()
        .unwrap_or("Pending")
        .to_string()
}

#[test]
fn dashboard_shows_the_cluster_live_and_refuses_a_wrong_token() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("node-a", &[]);
    cluster.add_worker("node-b", &[]);
    let c = components();
    cluster.apply("web.yaml", &http_app("web", &c.misbehave, 2, "/"));
    cluster.apply("crasher.yaml", &crasher_app(&c.crasher));
    wait_until("web's two pods ready", WAIT, || {
        (cluster.ready_pods("web").len() == 2).then_some(())
    });
    wait_until("the crasher restarted", WAIT, || {
        cluster
            .items("pods")
            .into_iter()
            .find(|p| p["metadata"]["labels"]["app"] == "crasher")
            .filter(|p| p["status"]["restartCount"].as_u64() >= Some(1))
    });

    let mut browser = Browser::start();
    let ui = format!("{}/ui/", cluster.api);

    // A wrong token: the API says 401, the page says so and keeps no token.
    browser.navigate(&ui);
    browser.wait_for(
        "the sign-in form",
        "!document.getElementById('login').hidden",
        WAIT,
    );
    screenshot(&mut browser, "dashboard-login.png");
    browser.fill("#token", "not-a-token");
    browser.click("#login-button");
    let refused = browser.wait_text("#login-error", "refused", WAIT);
    assert!(refused.contains("401"), "{refused}");
    assert_eq!(
        browser.eval("sessionStorage.getItem('wasmpod.token')"),
        Value::Null
    );
    assert!(browser.eval("document.getElementById('nav').hidden") == Value::Bool(true));

    // The admin token: in, and kept for this tab only.
    browser.fill("#token", &cluster.admin_token);
    browser.click("#login-button");
    browser.wait_for(
        "the overview",
        "document.getElementById('nodes-ready')",
        WAIT,
    );
    assert_eq!(
        browser.eval("sessionStorage.getItem('wasmpod.token')"),
        Value::String(cluster.admin_token.clone())
    );

    // Overview: every node with its capacity, pods by phase as the API counts them.
    let nodes = cluster.items("nodes");
    browser.wait_text("#nodes-ready", &format!("{0} / {0}", nodes.len()), WAIT);
    let overview = browser.wait_text("#live", "node-b", WAIT);
    for node in &nodes {
        assert!(overview.contains(&name_of(node)), "{overview}");
    }
    assert!(
        overview.contains("GiB"),
        "memory capacity shown: {overview}"
    );
    let pods = cluster.items("pods");
    let running = pods.iter().filter(|p| phase(p) == "Running").count();
    browser.wait_text("#phases", &format!("Running {running}"), WAIT);
    screenshot(&mut browser, "dashboard-overview.png");

    // Deployments: ready/desired as the API has them.
    browser.navigate(&format!("{ui}#/deployments"));
    let table = browser.wait_text("#live", "web", WAIT);
    let web = browser.wait_text("#live tbody", "2/2", WAIT);
    assert!(web.contains("crasher"), "{table}");
    screenshot(&mut browser, "dashboard-deployments.png");

    // Pods: each pod with its phase.
    browser.navigate(&format!("{ui}#/pods"));
    let pods_page = browser.wait_text("#live", &name_of(&pods[0]), WAIT);
    let rows: Vec<String> = browser
        .eval("[...document.querySelectorAll('#live tbody tr')].map(r => r.innerText)")
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    for pod in &pods {
        let name = name_of(pod);
        let row = rows
            .iter()
            .find(|r| r.contains(&name))
            .unwrap_or_else(|| panic!("{name} listed: {pods_page}"));
        if phase(pod) == "Running" && pod["metadata"]["labels"]["app"] == "web" {
            assert!(row.contains("Running"), "{row}");
        }
    }
    screenshot(&mut browser, "dashboard-pods.png");

    // A pod's page: its status, its events, and its log as a request writes to it.
    let (pod, node) = cluster.ready_pods("web").remove(0);
    // A gateway sends a request to a replica on its own node first: the pod's node's gateway.
    let gateway = cluster
        .workers
        .iter()
        .find(|(name, _, _)| *name == node)
        .map(|(_, _, gateway)| gateway.clone())
        .expect("the pod's node");
    browser.navigate(&format!("{ui}#/pods/default/{pod}"));
    browser.wait_text("#pod-facts", "Running", WAIT);
    browser.wait_text("#log-state", "following", WAIT);
    let started = cluster
        .items("events")
        .into_iter()
        .find(|e| e["spec"]["involvedObject"]["name"] == pod.as_str())
        .expect("an event about the pod");
    let reason = started["spec"]["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    browser.wait_text("#live", &reason, WAIT);
    let logged = |browser: &mut Browser| browser.text("#logs").matches("log-stdout").count();
    let before = logged(&mut browser);
    wait_until("a request's log line on the page", WAIT, || {
        let (code, _) = http_get(&format!("{gateway}/log"));
        assert_eq!(code, 200);
        std::thread::sleep(Duration::from_millis(200));
        (logged(&mut browser) > before).then_some(())
    });
    screenshot(&mut browser, "dashboard-pod.png");

    // Services and ingress routes.
    browser.navigate(&format!("{ui}#/services"));
    let services = browser.wait_text("#live", "2/2", WAIT);
    assert!(services.contains("web"), "{services}");
    let routes = browser.wait_text("#live", "Ingress", WAIT);
    assert!(routes.contains('/'), "{routes}");

    // The service's request rate and latency, drawn from /api/v1/podmetrics as requests come.
    let rate_title =
        r#"document.querySelector('[data-service="default/web"] h3')?.innerText ?? ''"#;
    let title = wait_until("web's request rate above zero on its chart", WAIT, || {
        for _ in 0..10 {
            assert_eq!(http_get(&format!("{gateway}/ok")).0, 200);
        }
        std::thread::sleep(Duration::from_millis(300));
        let title = browser
            .eval(rate_title)
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rate: f64 = title
            .split(": ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        (rate > 0.0).then_some(title)
    });
    let measured: f64 = wasmpod_tests::api_json(
        &cluster.api,
        "/api/v1/podmetrics",
        Some(&cluster.admin_token),
    )
    .expect("podmetrics")["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| m["pod"].as_str().is_some_and(|p| p.starts_with("web-")))
        .filter_map(|m| m["requestsPerSecond"].as_f64())
        .sum();
    assert!(
        measured > 0.0,
        "the API measured web's requests too: {title}"
    );
    let latency = browser.wait_text("#charts", "p99", WAIT);
    assert!(latency.contains("ms"), "{latency}");
    let points = browser.eval(
        r#"document.querySelector('[data-service="default/web"] polyline.rate')?.getAttribute('points') ?? ''"#,
    );
    assert!(
        !points.as_str().unwrap_or_default().is_empty(),
        "a drawn line"
    );
    if std::env::var("WASMPOD_SCREENSHOTS").as_deref() == Ok("1") {
        // A few more seconds of traffic, so the picture shows lines rather than a first point.
        let until = std::time::Instant::now() + Duration::from_secs(8);
        while std::time::Instant::now() < until {
            http_get(&format!("{gateway}/ok"));
            std::thread::sleep(Duration::from_millis(40));
        }
    }
    screenshot(&mut browser, "dashboard-services.png");

    // Events, live: a third replica's events arrive while the page is open.
    browser.navigate(&format!("{ui}#/events"));
    browser.wait_text("#live", &reason, WAIT);
    cluster.cli_ok(&["scale", "deployment", "web", "--replicas", "3"]);
    let third = wait_until("a third web pod", WAIT, || {
        cluster
            .items("pods")
            .into_iter()
            .map(|p| name_of(&p))
            .find(|name| name.starts_with("web-") && !rows.iter().any(|r| r.contains(name)))
    });
    browser.wait_text("#live", &third, WAIT);
    screenshot(&mut browser, "dashboard-events.png");

    assert!(
        browser.errors().is_empty(),
        "the pages ran without errors: {:?}",
        browser.errors()
    );
}
