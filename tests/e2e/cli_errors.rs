//! What the CLI prints when the API refuses: the server's message once, with the status, and
//! nothing else (`error: deployments "web" not found (HTTP 404)`), for a get, a delete, a read
//! behind another verb, and an apply the server finds invalid (422); and a server that cannot be
//! reached, each cause said once.

use std::process::Output;
use wasmpod_tests::{deployment_yaml, Cluster};

fn failed(out: &Output) -> (String, String) {
    assert!(!out.status.success(), "the command succeeded");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn api_errors_print_the_servers_message_once_with_the_status() {
    let cluster = Cluster::up(&[]);
    let not_found = "error: deployments \"web\" not found (HTTP 404)\n";
    for args in [
        &["get", "deployment", "web"][..],
        &["get", "deploy/web"],
        &["delete", "deployment", "web"],
        &["scale", "deployment", "web", "--replicas", "2"],
        &["rollout", "history", "deployment/web"],
        &["patch", "deployment", "web", "-p", "{}"],
    ] {
        let (stdout, stderr) = failed(&cluster.cli(args));
        assert_eq!(stderr, not_found, "{args:?}");
        assert_eq!(stdout, "", "{args:?}");
    }
    // Several missing: each once, no summary line.
    let (_, stderr) = failed(&cluster.cli(&["get", "configmaps", "a", "b"]));
    assert_eq!(
        stderr,
        "error: configmaps \"a\" not found (HTTP 404)\n\
         error: configmaps \"b\" not found (HTTP 404)\n"
    );

    // No server there: the transport's causes, none of them twice.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    let (_, stderr) =
        failed(&cluster.cli(&["--server", &format!("http://{closed}"), "get", "pods"]));
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "error: cannot reach the wasmpod API at http://{closed}"
        )),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| !lines[0].contains(l.trim_start_matches("  caused by: "))),
        "a cause repeats the line above: {stderr}"
    );

    // A component digest the server never received: the apply is invalid (422).
    let digest = format!("sha256:{}", "0".repeat(64));
    let yaml = deployment_yaml("ghost", std::path::Path::new(&digest), 1, "", "");
    let (_, stderr) = failed(&cluster.apply("ghost.yaml", &yaml));
    assert_eq!(
        stderr,
        format!(
            "applying 1 object(s)... refused\n\
             error: objects[0] (Deployment \"ghost\"): spec.template.spec.component: \
             component {digest} was not uploaded (HTTP 422)\n"
        )
    );
}
