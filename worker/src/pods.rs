//! The pod manager: runs exactly the pods bound to this node — starts the new ones, stops the
//! ones deleted or moved away. Level-triggered on the pod cache. Once the cache is ready it removes the
//! directories of pods the node ran before a restart and no longer runs; at shutdown it waits
//! for its pods' tasks (each removes its own directories) before returning.

use crate::context::NodeContext;
use crate::pod_task;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmpod_api::cache::Store;
use wasmpod_api::resolved::CONFIG_VERSION_ANNOTATION;
use wasmpod_api::Resource as _;
use wasmpod_api::{ObjectKey, Pod, PodPhase};

/// How long shutdown waits for pod tasks to stop and clean up.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A pod task: the pod's uid, the token that stops it, the one that asks it to drain and stop
/// (the pod is terminating), its config version, and the task.
struct Running {
    uid: Option<String>,
    token: CancellationToken,
    terminate: CancellationToken,
    config: watch::Sender<Option<String>>,
    task: JoinHandle<()>,
}

pub async fn run(ctx: Arc<NodeContext>, pods: Store<Pod>, shutdown: CancellationToken) {
    let mut changes = pods.subscribe();
    // Nothing is started or swept before the first complete list: an empty cache is not an
    // empty node.
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = pods.ready() => {}
    }
    let mut running: HashMap<ObjectKey, Running> = HashMap::new();
    let mut swept = false;
    loop {
        let desired: HashMap<ObjectKey, Arc<Pod>> = pods
            .list()
            .into_iter()
            .filter(|p| p.spec.node_name.as_deref() == Some(ctx.node.as_str()))
            .map(|p| (p.key(), p))
            .collect();
        if !swept {
            let keep: HashSet<String> = desired
                .values()
                .filter_map(|p| p.metadata.uid.clone())
                .collect();
            ctx.dirs.remove_stale(&keep);
            swept = true;
        }
        running.retain(|key, r| {
            let Some(pod) = desired.get(key).filter(|p| p.metadata.uid == r.uid) else {
                r.token.cancel();
                ctx.forget_logs(key);
                return false;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                r.terminate.cancel();
            }
            let version = pod
                .metadata
                .annotations
                .get(CONFIG_VERSION_ANNOTATION)
                .cloned();
            r.config.send_if_modified(|v| {
                // The first stamp arrives just after the pod is created: not a change.
                let changed = v.is_some() && *v != version;
                *v = version;
                changed
            });
            true
        });
        for (key, pod) in desired {
            if running.contains_key(&key) {
                continue;
            }
            if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
                || pod.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            let token = shutdown.child_token();
            let (config, config_rx) = watch::channel(
                pod.metadata
                    .annotations
                    .get(CONFIG_VERSION_ANNOTATION)
                    .cloned(),
            );
            let uid = pod.metadata.uid.clone();
            let terminate = CancellationToken::new();
            let task = tokio::spawn(pod_task::run(
                ctx.clone(),
                Arc::unwrap_or_clone(pod),
                pod_task::Signals {
                    cancel: token.clone(),
                    terminate: terminate.clone(),
                },
                config_rx,
            ));
            running.insert(
                key,
                Running {
                    uid,
                    token,
                    terminate,
                    config,
                    task,
                },
            );
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    // Every pod token is a child of `shutdown`: the tasks are stopping; let them clean up.
    let all = futures::future::join_all(running.into_values().map(|r| r.task));
    if tokio::time::timeout(STOP_GRACE, all).await.is_err() {
        tracing::warn!("some pods did not stop within the grace period");
    }
}
