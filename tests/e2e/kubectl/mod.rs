//! A kubectl user's habits (issue 18), each through the real binary against `wasmpod up`:
//! label and field selectors served by the API (lists and watches), `TYPE/NAME` and several
//! names, `get all`, global flags before the verb, `-A`'s NAMESPACE column, `-o name|jsonpath|
//! custom-columns`, `--no-headers`, `--show-labels`, `--sort-by`, `describe` endpoints and node
//! allocation, create-only writes (409 AlreadyExists), dry runs that store nothing, `diff`,
//! Namespaces, `wait`, `edit` refusing a concurrent change, `patch`, `label`, `annotate`,
//! `set image`, `completion`, `api-resources`, `explain` and `version`. Bad input is refused
//! with an error naming what is wrong, and the stored state is untouched.

mod changes;
mod selection;
mod writes;

use std::io::{BufRead, BufReader};
use std::process::Output;
use std::time::Duration;
use wasmpod_tests::Cluster;

/// How long a `wait` in these tests may take.
pub(super) const WAIT: &str = "60s";

pub(super) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the CLI, expecting it to fail; returns stderr.
pub(super) fn cli_fails(cluster: &Cluster, args: &[&str]) -> String {
    let out = cluster.cli(args);
    assert!(
        !out.status.success(),
        "{args:?} should fail; it printed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

pub(super) fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

pub(super) fn json(cluster: &Cluster, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&cluster.cli_ok(args)).expect("json output")
}

/// The change events a watch sends within `within` (the stream is cut by the timeout).
pub(super) fn watch_events(url: &str, within: Duration) -> Vec<serde_json::Value> {
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
