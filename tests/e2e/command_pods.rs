//! Command pods: a Deployment's pods always restart (`OnFailure` and `Never` are refused at apply),
//! `args`, a changed Secret restarting them (`ConfigChanged`), and a claim's data surviving their
//! crashes.

use std::time::Duration;
use wasmpod_api::{Deployment, Pod};
use wasmpod_tests::{components, deployment_yaml, find_paths, wait_until, Cluster, ClusterApi};

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

fn the_pod(cluster: &Cluster, app: &str) -> Option<Pod> {
    let mut pods = cluster.pods_of_app(app);
    (pods.len() == 1).then(|| pods.remove(0))
}

fn logs(cluster: &Cluster, pod: &Pod) -> String {
    cluster.run_cli_ok(&["logs", pod.name()])
}

/// The pod's logs, or None while its node has none yet (it has not started there).
fn try_logs(cluster: &Cluster, pod: &Pod) -> Option<String> {
    let out = cluster.run_cli(&["logs", pod.name()]);
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
        let out = cluster.try_apply("ends.yaml", &yaml);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "restartPolicy {policy} was accepted");
        assert!(
            stderr.contains("spec.template.spec.restartPolicy") && stderr.contains(policy),
            "{stderr}"
        );
    }
    assert!(cluster.objects::<Deployment>().is_empty());

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
    cluster.apply_ok("crashers.yaml", &yaml);

    // A changed Secret restarts a command pod, which then sees the new value.
    let talker = wait_until("talker says its word", WAIT, || {
        let pod = the_pod(&cluster, "talker")?;
        try_logs(&cluster, &pod)?
            .contains("crasher says: first")
            .then_some(pod)
    });
    assert_eq!(talker.status.restart_count, 0, "{talker:?}");
    // `args` follow the pod's name as argv[0].
    let printed = logs(&cluster, &talker);
    assert!(
        printed.contains(&format!("crasher args: {}|one|two words", talker.name())),
        "{printed}"
    );
    cluster.apply_ok("words.yaml", &secret("second"));
    wait_until("talker saying the new word", WAIT, || {
        logs(&cluster, &talker)
            .contains("crasher says: second")
            .then_some(())
    });
    // The status was reported before the restarted command printed; read it now.
    let restarted = wait_until("talker's restart reported", WAIT, || {
        the_pod(&cluster, "talker").filter(|p| p.status.restart_count >= 1)
    });
    assert_eq!(restarted.name(), talker.name(), "restarted in place");
    assert_eq!(restarted.status.restart_count, 1, "{restarted:?}");
    assert_eq!(
        restarted
            .status
            .last_termination
            .as_ref()
            .map(|t| t.reason.as_str()),
        Some("ConfigChanged"),
        "{restarted:?}"
    );
    let described = cluster.run_cli_ok(&["describe", "pod", talker.name()]);
    assert!(described.contains("ConfigChanged"), "{described}");

    // The claim's data survives the crashes: one line per start, all kept.
    let appender = wait_until("appender crashed twice", WAIT, || {
        the_pod(&cluster, "appender").filter(|p| p.status.restart_count >= 2)
    });
    let files = find_paths(&cluster.data_dir, "starts")
        .into_iter()
        .filter(|p| p.is_file())
        .collect::<Vec<_>>();
    assert_eq!(files.len(), 1, "{files:?}");
    let starts = std::fs::read_to_string(&files[0]).expect("claim file");
    let restarts = appender.status.restart_count as usize;
    assert!(
        starts.lines().filter(|l| *l == "started").count() > restarts,
        "{restarts} restarts, file: {starts:?}"
    );
}
