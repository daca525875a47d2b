//! Durability the hard way: `kill -9` of the control plane in the middle of a stream of writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmpod_tests::{wait_until, Cluster};

/// Writers apply ConfigMaps one request at a time; the test records each one the API
/// acknowledged (200 with a result), then kills the process with no warning.
fn config_map(name: &str) -> serde_json::Value {
    serde_json::json!({
        "objects": [{
            "apiVersion": "wasmpod.dev/v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
            "data": {"value": format!("v-{name}")},
        }]
    })
}

#[test]
fn every_acknowledged_write_survives_kill9_of_the_control_plane() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut cluster = Cluster::up_in(&data, &[]);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Two writers, so some writes share a group commit.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let api = cluster.api.clone();
            let acknowledged = acknowledged.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                for i in 0..2_000 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let name = format!("cm-{w}-{i}");
                    let answer = client
                        .post(format!("{api}/api/v1/apply"))
                        .json(&config_map(&name))
                        .send();
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            acknowledged.lock().expect("lock").push(name)
                        }
                        // The process is gone: what was not acknowledged may or may not be there.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    wait_until("100 acknowledged writes", Duration::from_secs(60), || {
        (acknowledged.lock().expect("lock").len() >= 100).then_some(())
    });
    cluster.kill9();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().expect("writer");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    drop(cluster);

    let cluster = Cluster::up_in(&data, &[]);
    let stored = cluster.items("configmaps");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|name| {
            !stored.iter().any(|c| {
                c["metadata"]["name"] == name.as_str()
                    && c["data"]["value"] == format!("v-{name}").as_str()
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost after kill -9: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
    eprintln!(
        "{} acknowledged, {} stored after kill -9",
        acknowledged.len(),
        stored.len()
    );
}
