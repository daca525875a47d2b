//! The pod manager: runs exactly the pods bound to this node — starts the new ones, stops the
//! ones deleted or moved away. Level-triggered on the pod reflector.

use crate::context::NodeContext;
use crate::pod_task;
use crate::reflector::Reflector;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{Kind, ObjectKey, Pod, PodPhase};

pub async fn run(ctx: Arc<NodeContext>, pods: Reflector, shutdown: CancellationToken) {
    let mut changes = pods.subscribe();
    // Pod key -> (uid, the token that stops its task).
    let mut running: HashMap<ObjectKey, (Option<String>, CancellationToken)> = HashMap::new();
    loop {
        if pods.synced() {
            let desired: HashMap<ObjectKey, Pod> = pods
                .typed::<Pod>()
                .into_iter()
                .filter(|p| p.spec.node_name.as_deref() == Some(ctx.node.as_str()))
                .map(|p| (ObjectKey::new(Kind::Pod, p.namespace(), p.name()), p))
                .collect();
            running.retain(|key, (uid, token)| {
                let keep = desired.get(key).is_some_and(|p| p.metadata.uid == *uid);
                if !keep {
                    token.cancel();
                    ctx.forget_logs(key);
                }
                keep
            });
            for (key, pod) in desired {
                if running.contains_key(&key) {
                    continue;
                }
                if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
                    continue;
                }
                let token = shutdown.child_token();
                running.insert(key, (pod.metadata.uid.clone(), token.clone()));
                tokio::spawn(pod_task::run(ctx.clone(), pod, token));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}
