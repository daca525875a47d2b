//! Command pods: a Deployment's pods always restart (`OnFailure` and `Never` are refused at apply),
//! `args`, a changed Secret restarting them (`ConfigChanged`), and a claim's data surviving their
//! crashes.

use std::time::Duration;
use wasmpod_tests::{
    components, deployment_yaml, find_paths, name_of, pods_of, wait_until, Cluster,
};

const WAIT: Duration = Duration::from_secs(40);

/// A Deployment of the crasher: `spec` holds extra YAML flow-map entries of the pod spec.
fn crasher(name: &str, spec: &str) -> String {
    deployment_yaml(name, &components().crasher, 1, "", &format!(", {spec}"))
}

fn secret(word: &str) -> String {
    format!(
        "apiVersion: wasmpod.dev/v1\nkind: Secret\nmetadata: {{name: words}}\n\
         stringData: {{word: {word}}}\n---\n"
    )
}

fn the_pod(cluster: &Cluster, app: &str) -> Option<serde_json::Value> {
    let pods = pods_of(&cluster.items("pods"), app);
    (pods.len() == 1).then(|| pods[0].clone())
}

fn logs(cluster: &Cluster, pod: &serde_json::Value) -> String {
    cluster.cli_ok(&["logs", &name_of(pod)])
}

/// The pod's logs, or None while its node has none yet (it has not started there).
fn try_logs(cluster: &Cluster, pod: &serde_json::Value) -> Option<String> {
    let out = cluster.cli(&["logs", &name_of(pod)]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn restart_policies_args_and_secret_changes_of_command_pods() {
    let cluster = Cluster::up(&[]);
    let claim =
        "apiVersion: wasmpod.dev/v1\nkind: PersistentVolumeClaim\nmetadata: {name: starts}\n\
                 spec: {resources: {requests: {storage: 1Mi}}}\n---\n";
    let exit = r#"{name: CRASH_MODE, value: exit}, {name: CRASH_AFTER_MS, value: "20"}"#;
    let ok = r#"{name: CRASH_MODE, value: ok}, {name: CRASH_AFTER_MS, value: "20"}"#;

    // A Deployment keeps its replicas running: a pod that may end (OnFailure after a clean exit,
    // Never after any) would leave it short forever, so both are refused, naming the field.
    for policy in ["OnFailure", "Never"] {
        let yaml = crasher("ends", &format!("restartPolicy: {policy}, env: [{ok}]"));
        let out = cluster.apply("ends.yaml", &yaml);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "restartPolicy {policy} was accepted");
        assert!(
            stderr.contains("spec.template.spec.restartPolicy") && stderr.contains(policy),
            "{stderr}"
        );
    }
    assert!(cluster.items("deployments").is_empty());

    let yaml = [
        secret("first"),
        claim.to_string(),
        crasher(
            "talker",
            "args: [one, two words], env: [{name: CRASH_MODE, value: forever}, \
             {name: CRASHER_SAY, valueFrom: {secretKeyRef: {name: words, key: word}}}]",
        ),
        crasher(
            "appender",
            &format!(
                "env: [{exit}, {{name: CRASHER_APPEND, value: /data/starts}}], \
                 volumes: [{{name: data, persistentVolumeClaim: {{claimName: starts}}}}], \
                 volumeMounts: [{{name: data, mountPath: /data}}]"
            ),
        ),
    ]
    .concat();
    let out = cluster.apply("crashers.yaml", &yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A changed Secret restarts a command pod, which then sees the new value.
    let talker = wait_until("talker says its word", WAIT, || {
        let pod = the_pod(&cluster, "talker")?;
        try_logs(&cluster, &pod)?
            .contains("crasher says: first")
            .then_some(pod)
    });
    assert_eq!(talker["status"]["restartCount"], 0, "{talker}");
    // `args` follow the pod's name as argv[0].
    let printed = logs(&cluster, &talker);
    assert!(
        printed.contains(&format!("crasher args: {}|one|two words", name_of(&talker))),
        "{printed}"
    );
    let out = cluster.apply("words.yaml", &secret("second"));
    assert!(out.status.success());
    wait_until("talker saying the new word", WAIT, || {
        logs(&cluster, &talker)
            .contains("crasher says: second")
            .then_some(())
    });
    // The status was reported before the restarted command printed; read it now.
    let restarted = wait_until("talker's restart reported", WAIT, || {
        the_pod(&cluster, "talker").filter(|p| p["status"]["restartCount"].as_u64() >= Some(1))
    });
    assert_eq!(name_of(&restarted), name_of(&talker), "restarted in place");
    assert_eq!(restarted["status"]["restartCount"], 1, "{restarted}");
    assert_eq!(
        restarted["status"]["lastTermination"]["reason"], "ConfigChanged",
        "{restarted}"
    );
    let described = cluster.cli_ok(&["describe", "pod", &name_of(&talker)]);
    assert!(described.contains("ConfigChanged"), "{described}");

    // The claim's data survives the crashes: one line per start, all kept.
    let appender = wait_until("appender crashed twice", WAIT, || {
        the_pod(&cluster, "appender").filter(|p| p["status"]["restartCount"].as_u64() >= Some(2))
    });
    let files = find_paths(&cluster.data_dir, "starts")
        .into_iter()
        .filter(|p| p.is_file())
        .collect::<Vec<_>>();
    assert_eq!(files.len(), 1, "{files:?}");
    let starts = std::fs::read_to_string(&files[0]).expect("claim file");
    let restarts = appender["status"]["restartCount"].as_u64().unwrap_or(0) as usize;
    assert!(
        starts.lines().filter(|l| *l == "started").count() > restarts,
        "{restarts} restarts, file: {starts:?}"
    );
}
