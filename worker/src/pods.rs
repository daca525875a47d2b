//! The pod manager: runs exactly the pods bound to this node — starts the new ones, stops the
//! ones deleted or moved away. Level-triggered on the pod reflector.

use crate::context::NodeContext;
use crate::pod_task;
use crate::reflector::Reflector;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wasmpod_api::resolved::CONFIG_VERSION_ANNOTATION;
use wasmpod_api::{Kind, ObjectKey, Pod, PodPhase};

/// A pod task: the pod's uid, the token that stops it, and its config version.
type Running = (
    Option<String>,
    CancellationToken,
    watch::Sender<Option<String>>,
);

pub async fn run(ctx: Arc<NodeContext>, pods: Reflector<Pod>, shutdown: CancellationToken) {
    let mut changes = pods.subscribe();
    let mut running: HashMap<ObjectKey, Running> = HashMap::new();
    loop {
        if pods.synced() {
            let desired: HashMap<ObjectKey, Arc<Pod>> = pods
                .list()
                .into_iter()
                .filter(|p| p.spec.node_name.as_deref() == Some(ctx.node.as_str()))
                .map(|p| (ObjectKey::new(Kind::Pod, p.namespace(), p.name()), p))
                .collect();
            running.retain(|key, (uid, token, config)| {
                let Some(pod) = desired.get(key).filter(|p| p.metadata.uid == *uid) else {
                    token.cancel();
                    ctx.forget_logs(key);
                    return false;
                };
                let version = pod
                    .metadata
                    .annotations
                    .get(CONFIG_VERSION_ANNOTATION)
                    .cloned();
                config.send_if_modified(|v| {
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
                if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
                    continue;
                }
                let token = shutdown.child_token();
                let (config, config_rx) = watch::channel(
                    pod.metadata
                        .annotations
                        .get(CONFIG_VERSION_ANNOTATION)
                        .cloned(),
                );
                running.insert(key, (pod.metadata.uid.clone(), token.clone(), config));
                tokio::spawn(pod_task::run(
                    ctx.clone(),
                    Arc::unwrap_or_clone(pod),
                    token,
                    config_rx,
                ));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}
