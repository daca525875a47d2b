//! `logs -f` (streams new lines, across restarts, ends when the pod is deleted), `logs
//! --previous`, `logs -f -l` (several pods, prefixed, and the pods that match later, as `stern`
//! follows them), `get pods -w` and `get events -w`. Each
//! follower is a real `wasmpod` child whose stdout lines are read with a deadline, then stopped.

use std::time::{Duration, Instant};
use wasmpod_tests::{components, crasher_app, http_app, wait_until, Cluster, Process};

const WAIT: Duration = Duration::from_secs(40);

/// The first stdout line of `process` that contains `needle`, read before `timeout`.
fn line_with(process: &Process, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match process.lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {needle:?} within {timeout:?}"),
        }
    }
}

/// Lines of `process` that contain `needle`, until `count` of them were read or `timeout`.
fn lines_with(process: &Process, needle: &str, count: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut found = Vec::new();
    while found.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match process.lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => found.push(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    found
}

fn pods_of(cluster: &Cluster, app: &str) -> Vec<String> {
    let mut names: Vec<String> = cluster
        .items("pods")
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .map(wasmpod_tests::name_of)
        .collect();
    names.sort();
    names
}

fn follow(cluster: &Cluster, args: &[&str]) -> Process {
    Process::spawn_command(cluster.cli_command(args))
}

#[test]
fn logs_follow_streams_new_lines_and_ends_when_the_pod_is_deleted() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 1, "/"));
    cluster.wait_for_status("/ok", 200, WAIT);
    let pod = pods_of(&cluster, "misbehave").remove(0);

    let mut logs = follow(&cluster, &["logs", "-f", &pod]);
    // Lines written after the follow began arrive while it runs, one request at a time.
    for round in 0..3 {
        assert_eq!(cluster.get("/log").0, 200);
        line_with(&logs, "log-stdout", WAIT);
        assert!(
            logs.wait_exit(Duration::ZERO).is_none(),
            "still following after request {round}"
        );
    }
    // A follow outlives the API server's 10 s limit on a node's answer: it is a stream, not one.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(cluster.get("/log").0, 200);
    line_with(&logs, "log-stdout", WAIT);
    // Deleting the pod ends the follow (its deployment goes, so no replacement takes its name).
    cluster.cli_ok(&["delete", "deployment", "misbehave"]);
    let status = logs
        .wait_exit(WAIT)
        .expect("logs -f ends when the pod is deleted");
    assert!(status.success(), "{status:?}");
}

#[test]
fn logs_follow_keeps_following_across_restarts_and_previous_shows_the_last_run() {
    let cluster = Cluster::up(&[]);
    let out = cluster.apply("crasher.yaml", &crasher_app(&components().crasher));
    assert!(out.status.success(), "{out:?}");
    let pod = wait_until("the crasher's pod started", WAIT, || {
        let pod = pods_of(&cluster, "crasher").into_iter().next()?;
        cluster.cli(&["logs", &pod]).status.success().then_some(pod)
    });
    let logs = follow(&cluster, &["logs", "--follow", &pod]);
    // Each run prints "crasher starting": three of them on one stream is three runs followed.
    let starts = lines_with(&logs, "crasher starting", 3, WAIT);
    assert_eq!(starts.len(), 3, "three runs followed: {starts:?}");

    // --previous: the run before the current one, so one start only, while the whole log has
    // more than one.
    let previous = cluster.cli_ok(&["logs", "--previous", &pod]);
    assert_eq!(
        previous.matches("crasher starting").count(),
        1,
        "{previous}"
    );
    let all = cluster.cli_ok(&["logs", &pod]);
    assert!(all.matches("crasher starting").count() >= 2, "{all}");
}

#[test]
fn logs_previous_of_a_pod_that_never_restarted_says_so() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 1, "/"));
    cluster.wait_for_status("/ok", 200, WAIT);
    let pod = pods_of(&cluster, "misbehave").remove(0);
    let out = cluster.cli(&["logs", "--previous", &pod]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no previous run"), "{stderr}");
}

#[test]
fn logs_follow_with_a_selector_prefixes_each_pods_lines() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 2, "/"));
    cluster.wait_for_status("/ok", 200, WAIT);
    let pods = wait_until("two pods serving", WAIT, || {
        let pods = pods_of(&cluster, "misbehave");
        let ready = cluster
            .items("pods")
            .iter()
            .filter(|p| p["status"]["ready"] == true)
            .count();
        (pods.len() == 2 && ready == 2).then_some(pods)
    });
    let logs = follow(&cluster, &["logs", "-f", "-l", "app=misbehave"]);
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "lines of both pods: saw {seen:?}"
        );
        assert_eq!(cluster.get("/log").0, 200);
        while let Ok(line) = logs.lines.recv_timeout(Duration::from_millis(200)) {
            if !line.contains("log-stdout") {
                continue;
            }
            let pod = pods
                .iter()
                .find(|p| line.starts_with(&format!("[pod/{p}] ")))
                .unwrap_or_else(|| panic!("a line of an unknown pod: {line:?}"));
            seen.insert(pod.clone());
        }
    }
}

/// Sends requests that write a log line until a line of `pod` comes out of `logs`, within WAIT.
fn wait_for_line_of(cluster: &Cluster, logs: &Process, pod: &str) -> String {
    let prefix = format!("[pod/{pod}] ");
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no line of pod {pod} within {WAIT:?}; stderr: {}",
            logs.stderr_tail()
        );
        assert_eq!(cluster.get("/log").0, 200);
        while let Ok(line) = logs.lines.recv_timeout(Duration::from_millis(200)) {
            if line.starts_with(&prefix) && line.contains("log-stdout") {
                return line;
            }
        }
    }
}

#[test]
fn logs_follow_with_a_selector_picks_up_pods_that_start_matching_later() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 1, "/"));
    cluster.wait_for_status("/ok", 200, WAIT);
    let first = pods_of(&cluster, "misbehave").remove(0);
    let mut logs = follow(&cluster, &["logs", "-f", "-l", "app=misbehave"]);
    wait_for_line_of(&cluster, &logs, &first);

    // A replica that starts after the follow began is followed too.
    cluster.cli_ok(&["scale", "deployment", "misbehave", "--replicas", "2"]);
    let second = wait_until("the second pod", WAIT, || {
        pods_of(&cluster, "misbehave")
            .into_iter()
            .find(|p| *p != first)
    });
    wait_for_line_of(&cluster, &logs, &second);

    // A deleted pod is let go without an error, and its replacement is followed.
    cluster.cli_ok(&["delete", "pod", &first]);
    let third = wait_until("the first pod's replacement", WAIT, || {
        pods_of(&cluster, "misbehave")
            .into_iter()
            .find(|p| *p != first && *p != second)
    });
    wait_for_line_of(&cluster, &logs, &third);
    assert!(
        logs.wait_exit(Duration::ZERO).is_none(),
        "still following, for pods still to come"
    );
    let stderr = logs.stderr_tail();
    assert!(
        !stderr.contains("error: ") && !stderr.contains("ended while"),
        "{stderr}"
    );
}

#[test]
fn get_pods_watch_prints_the_table_then_each_change() {
    let cluster = Cluster::up(&[]);
    let c = components();
    cluster.apply("m.yaml", &http_app("misbehave", &c.misbehave, 1, "/"));
    cluster.wait_for_status("/ok", 200, WAIT);
    let first = pods_of(&cluster, "misbehave").remove(0);

    let pods = follow(&cluster, &["get", "pods", "-w"]);
    line_with(&pods, "NAME", WAIT);
    line_with(&pods, &first, WAIT);
    let events = follow(&cluster, &["get", "events", "-w", "-o", "yaml"]);
    // One object by name: its line from the list, then one a change.
    let deployment = follow(
        &cluster,
        &["get", "deploy", "misbehave", "-w", "-o", "name"],
    );
    line_with(&deployment, "deployment/misbehave", WAIT);

    // A second replica: its rows come as the scheduler and the node move it on.
    cluster.cli_ok(&["scale", "deployment", "misbehave", "--replicas", "2"]);
    let second = wait_until("the second pod", WAIT, || {
        pods_of(&cluster, "misbehave")
            .into_iter()
            .find(|p| *p != first)
    });
    let row = line_with(&pods, &format!("{second} "), WAIT);
    assert!(!row.starts_with("NAME"), "a row, not a header: {row}");
    let running = wait_until("the second pod's Running row", WAIT, || {
        let line = pods.lines.recv_timeout(WAIT).ok()?;
        (line.starts_with(&second) && line.contains("Running")).then_some(line)
    });
    assert!(running.contains("Running"), "{running}");
    line_with(&deployment, "deployment/misbehave", WAIT);
    // The events watch shows the new pod's events as objects.
    let event = line_with(&events, &format!("name: {second}"), WAIT);
    assert!(event.contains(&second), "{event}");
}
