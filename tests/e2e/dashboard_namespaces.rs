//! The web dashboard with a namespaced token (a team member's `create token NAME --role view
//! --namespace dev`), in a real browser: it signs in, every page shows namespace dev's objects
//! and none of another namespace's, a pod's log is followed, the overview says the token cannot
//! read nodes instead of failing, and an address naming another namespace shows dev's anyway.
//! The admin then picks a namespace in the selector and sees that one only, or all of them.
//! With `WASMPOD_SCREENSHOTS=1` the namespaced overview is written to docs/.

use crate::dashboard::screenshot;
use serde_json::Value;
use std::time::Duration;
use wasmpod_tests::browser::Browser;
use wasmpod_tests::{components, http_app, name_of, wait_until, MultiNode};

const WAIT: Duration = Duration::from_secs(40);

/// The text of each row of the page's live table.
fn rows(browser: &mut Browser) -> Vec<String> {
    browser
        .eval("[...document.querySelectorAll('#live tbody tr')].map(r => r.innerText)")
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// The names of the pods of `app` in `namespace`, as the API has them.
fn pods_in(cluster: &MultiNode, namespace: &str, app: &str) -> Vec<String> {
    cluster
        .items("pods")
        .iter()
        .filter(|p| {
            p["metadata"]["namespace"] == namespace && p["metadata"]["labels"]["app"] == app
        })
        .map(name_of)
        .collect()
}

/// Chooses `value` in the namespace selector, as a user would.
fn choose_namespace(browser: &mut Browser, value: &str) {
    let value = serde_json::to_string(value).expect("a string");
    browser.eval(&format!(
        "(() => {{ const s = document.getElementById('namespace'); s.value = {value}; \
         s.dispatchEvent(new Event('change')); return true; }})()"
    ));
}

fn options(browser: &mut Browser) -> Vec<String> {
    browser
        .eval("[...document.querySelectorAll('#namespace option')].map(o => o.value)")
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect()
}

#[test]
fn dashboard_with_a_namespaced_token_shows_its_namespace_only() {
    let mut cluster = MultiNode::start();
    cluster.add_worker("node-a", &[]);
    let c = components();
    cluster.cli_ok(&["create", "namespace", "dev"]);
    let shop = cluster.work.path().join("shop.yaml");
    std::fs::write(&shop, http_app("shop", &c.misbehave, 2, "/shop")).expect("manifest");
    cluster.cli_ok(&["apply", "-n", "dev", "-f", shop.to_str().expect("utf-8")]);
    cluster.apply("web.yaml", &http_app("web", &c.misbehave, 1, "/"));
    let dev_pods = wait_until(
        "dev's two shop pods and default's web pod ready",
        WAIT,
        || {
            let ready = |app| cluster.ready_pods(app).len();
            (ready("shop") == 2 && ready("web") == 1).then(|| pods_in(&cluster, "dev", "shop"))
        },
    );
    let web_pods = pods_in(&cluster, "default", "web");
    assert_eq!(web_pods.len(), 1, "{web_pods:?}");
    let viewer = cluster
        .cli_ok(&[
            "create",
            "token",
            "team",
            "--role",
            "view",
            "--namespace",
            "dev",
        ])
        .trim()
        .to_string();

    let mut browser = Browser::start();
    let ui = format!("{}/ui/", cluster.api);
    browser.navigate(&ui);
    browser.wait_for(
        "the sign-in form",
        "!document.getElementById('login').hidden",
        WAIT,
    );
    browser.fill("#token", &viewer);
    browser.click("#login-button");

    // The overview: dev's pods and deployment, and a notice where the nodes would be.
    let notice = browser.wait_text("#nodes-notice", "Your token cannot read nodes", WAIT);
    assert!(
        notice.contains("may not list nodes"),
        "the API's reason: {notice}"
    );
    browser.wait_text("#pods-total", "2", WAIT);
    browser.wait_text("#deployments-available", "1 / 1", WAIT);
    browser.wait_text("#status", "live", WAIT);
    assert_eq!(
        browser.eval("document.getElementById('nodes-ready')"),
        Value::Null,
        "no node count for a token that reads no nodes"
    );
    let who = browser.text("#whoami");
    assert!(who.contains("namespace dev"), "{who}");
    assert_eq!(options(&mut browser), vec!["dev".to_string()]);
    assert_eq!(
        browser.eval("document.getElementById('namespace').disabled"),
        Value::Bool(true)
    );
    screenshot(&mut browser, "dashboard-namespaced.png");

    // Deployments and pods: dev's, not default's.
    browser.navigate(&format!("{ui}#/deployments"));
    browser.wait_text("#live tbody", "2/2", WAIT);
    let deployments = rows(&mut browser);
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert!(deployments[0].contains("shop"), "{deployments:?}");
    assert!(deployments[0].contains("dev"), "{deployments:?}");

    browser.navigate(&format!("{ui}#/pods"));
    browser.wait_text("#live", &dev_pods[0], WAIT);
    browser.wait_text("#live", &dev_pods[1], WAIT);
    let listed = rows(&mut browser);
    assert_eq!(listed.len(), 2, "dev's two pods only: {listed:?}");
    assert!(
        !listed.iter().any(|r| r.contains(&web_pods[0])),
        "{listed:?}"
    );

    // An address naming another namespace still shows dev's (and says so in the address).
    browser.navigate(&format!("{ui}#/pods?namespace=default"));
    browser.wait_for(
        "the address settled on dev",
        "location.hash === '#/pods?namespace=dev'",
        WAIT,
    );
    browser.wait_text("#live", &dev_pods[0], WAIT);
    assert!(!browser.text("#live").contains(&web_pods[0]));

    // A pod's page follows its log through the namespaced log route.
    browser.navigate(&format!("{ui}#/pods/dev/{}", dev_pods[0]));
    browser.wait_text("#pod-facts", "Running", WAIT);
    browser.wait_text("#log-state", "following", WAIT);
    // Another namespace's pod: the API refuses it, and the page says so.
    browser.navigate(&format!("{ui}#/pods/default/{}", web_pods[0]));
    let refused = browser.wait_text(
        "#pod-notice",
        "cannot read the pods of namespace default",
        WAIT,
    );
    assert!(
        refused.contains("outside the token's namespace"),
        "{refused}"
    );

    // Services, routes and the per-service figures of dev.
    browser.navigate(&format!("{ui}#/services"));
    browser.wait_text("#live", "2/2", WAIT);
    // dev's ingress route (its list may come after the services').
    let services = browser.wait_text("#live", "/shop", WAIT);
    assert!(services.contains("shop"), "{services}");
    let listed = rows(&mut browser);
    assert!(
        !listed.is_empty() && listed.iter().all(|r| r.starts_with("dev")),
        "dev's service and route only: {listed:?}"
    );
    browser.wait_text("#charts-note", "Each node's", WAIT);
    assert_eq!(
        browser.eval("document.getElementById('charts-notice')"),
        Value::Null
    );

    // Events: about dev's pods only.
    browser.navigate(&format!("{ui}#/events"));
    browser.wait_text("#live", &dev_pods[0], WAIT);
    let events = browser.text("#live");
    assert!(!events.contains(&web_pods[0]), "{events}");

    assert!(
        browser.errors().is_empty(),
        "the pages ran without errors: {:?}",
        browser.errors()
    );

    // The admin: every namespace, the nodes, and a selector that narrows to one.
    browser.click("#logout");
    browser.navigate(&ui);
    browser.wait_for(
        "the sign-in form",
        "!document.getElementById('login').hidden",
        WAIT,
    );
    browser.fill("#token", &cluster.admin_token);
    browser.click("#login-button");
    browser.wait_text("#nodes-ready", "1 / 1", WAIT);
    wait_until("the selector lists the namespaces", WAIT, || {
        let choices = options(&mut browser);
        (choices == ["_all", "default", "dev"]).then_some(())
    });
    browser.navigate(&format!("{ui}#/pods"));
    browser.wait_text("#live", &web_pods[0], WAIT);
    browser.wait_text("#live", &dev_pods[0], WAIT);
    choose_namespace(&mut browser, "dev");
    browser.wait_for(
        "the pods of dev",
        "location.hash === '#/pods?namespace=dev'",
        WAIT,
    );
    wait_until("only dev's pods listed", WAIT, || {
        let listed = rows(&mut browser);
        (listed.len() == 2 && listed.iter().all(|r| r.contains("shop-"))).then_some(())
    });
    choose_namespace(&mut browser, "_all");
    browser.wait_text("#live", &web_pods[0], WAIT);
    assert!(
        browser.errors().is_empty(),
        "the pages ran without errors: {:?}",
        browser.errors()
    );
}
