//! Runs the controllers while this server leads: starts them on becoming leader, cancels them on
//! losing the leadership (and waits until they have returned), starts them again on winning it
//! back. Each start is one term, with its own fence on etcd ([`super::fence`]): a new term (the
//! leader key taken again) restarts the controllers even when no follower role was seen in
//! between. The API is not gated: every server serves it at all times.

use super::fence::TermFence;
use super::{Leadership, Role};
use crate::registry::Registry;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One term of leadership, as the controllers started for it see it.
pub struct Term {
    /// What the controllers run under: cancelled when the term ends, and (on etcd) as soon as
    /// one of its writes was fenced off.
    pub stop: CancellationToken,
    /// When this server took the lead.
    pub since: chrono::DateTime<chrono::Utc>,
    /// The fence of the term's writes (`None` for [`Leadership::Always`]: nothing to fence).
    pub fence: Option<Arc<TermFence>>,
}

impl Term {
    /// The registry handle the term's controllers write through: fenced by the term on etcd,
    /// `registry` itself otherwise.
    pub fn registry(&self, registry: &Arc<Registry>) -> Arc<Registry> {
        match &self.fence {
            Some(fence) => Arc::new(registry.fenced(fence.clone())),
            None => registry.clone(),
        }
    }
}

/// Until `shutdown`: each time `leadership` says this server leads, `start` spawns the
/// controllers of that [`Term`].
pub async fn run_while_leader<F>(leadership: Leadership, shutdown: CancellationToken, mut start: F)
where
    F: FnMut(Term) -> Vec<JoinHandle<()>>,
{
    let mut role = leadership.role();
    loop {
        // Wait to lead.
        let leading = loop {
            if let Role::Leader { term, since } = &*role.borrow_and_update() {
                break Some((*term, *since));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                changed = role.changed() => if changed.is_err() { break None },
            }
        };
        let Some((term, since)) = leading else { break };
        let token = shutdown.child_token();
        let fence = leadership
            .fence(term)
            .map(|fence| Arc::new(TermFence::new(fence, &token)));
        let stop = fence
            .as_ref()
            .map_or_else(|| token.clone(), |fence| fence.stop());
        tracing::info!(server = %leadership.me().name, term, "starting the controllers");
        let tasks = start(Term { stop, since, fence });
        // Lead until the role changes away from this term (or the server stops).
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = role.changed() => {
                    if changed.is_err() || role.borrow_and_update().term() != Some(term) {
                        break;
                    }
                }
            }
        }
        token.cancel();
        for task in tasks {
            let _ = task.await;
        }
        tracing::info!(server = %leadership.me().name, term, "the controllers have stopped");
        if shutdown.is_cancelled() {
            break;
        }
    }
    if let Leadership::Etcd(handle) = &leadership {
        handle.release();
    }
}
