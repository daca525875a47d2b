//! Writes that race: `scale` calls from several CLIs at once, and while the deployment
//! controller keeps writing the same Deployment's status. Every acknowledged scale is applied on
//! top of the one before it (the generation counts each), none is undone by a controller that
//! wrote back an object it read earlier.

use std::time::Duration;
use wasmpod_tests::{components, deployment_yaml, pods_of, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(60);

fn generation(cluster: &Cluster) -> u64 {
    cluster.api_json("/api/v1/deployments/scaled")["metadata"]["generation"]
        .as_u64()
        .expect("a Deployment has a generation")
}

fn replicas(cluster: &Cluster) -> u64 {
    cluster.api_json("/api/v1/deployments/scaled")["spec"]["replicas"]
        .as_u64()
        .expect("a Deployment has replicas")
}

#[test]
fn concurrent_scales_are_all_applied_in_order() {
    let cluster = Cluster::up(&[]);
    let hello = &components().hello;
    let out = cluster.apply("scaled", &deployment_yaml("scaled", hello, 1, "", ""));
    assert!(out.status.success(), "{out:?}");
    wait_until("the first pod runs", WAIT, || {
        (pods_of(&cluster.items("pods"), "scaled").len() == 1).then_some(())
    });

    // Two CLIs at once, to different sizes: both writes land, one after the other.
    let before = generation(&cluster);
    let running: Vec<_> = ["3", "4"]
        .into_iter()
        .map(|size| {
            let mut command =
                cluster.cli_command(&["scale", "deployment", "scaled", "--replicas", size]);
            command
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().expect("wasmpod runs")
        })
        .collect();
    for child in running {
        let out = child.wait_with_output().expect("wasmpod runs");
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(
        generation(&cluster),
        before + 2,
        "each scale is its own change"
    );
    let settled = replicas(&cluster);
    assert!(matches!(settled, 3 | 4), "replicas {settled}");

    // Many scales while the controller creates and deletes pods and writes the status after
    // each change: the last acknowledged size is the one that stays.
    let before = generation(&cluster);
    let sizes = [2, 5, 1, 4, 3, 2, 5, 3];
    let mut changes = 0;
    let mut last = settled;
    for size in sizes {
        cluster.cli_ok(&[
            "scale",
            "deployment",
            "scaled",
            "--replicas",
            &size.to_string(),
        ]);
        if size != last {
            changes += 1;
            last = size;
        }
    }
    assert_eq!(generation(&cluster), before + changes);
    wait_until("the pods follow the last scale", WAIT, || {
        (pods_of(&cluster.items("pods"), "scaled").len() == 3).then_some(())
    });
    // Several controller passes later the size is still the one asked for.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(replicas(&cluster), 3);
    let status = cluster.api_json("/api/v1/deployments/scaled")["status"].clone();
    assert_eq!(status["replicas"], 3, "{status}");
}
