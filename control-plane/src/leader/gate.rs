//! Runs the controllers while this server leads: starts them on becoming leader, cancels them on
//! losing the leadership (and waits until they have returned), starts them again on winning it
//! back. The API is not gated: every server serves it at all times.

use super::{Leadership, Role};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Until `shutdown`: each time `leadership` says this server leads, `start` spawns the
/// controllers under a token that is cancelled when it stops leading.
pub async fn run_while_leader<F>(leadership: Leadership, shutdown: CancellationToken, mut start: F)
where
    F: FnMut(CancellationToken, chrono::DateTime<chrono::Utc>) -> Vec<JoinHandle<()>>,
{
    let mut role = leadership.role();
    loop {
        // Wait to lead.
        let since = loop {
            if let Role::Leader { since, .. } = &*role.borrow_and_update() {
                break Some(*since);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                changed = role.changed() => if changed.is_err() { break None },
            }
        };
        let Some(since) = since else { break };
        let term = shutdown.child_token();
        tracing::info!(server = %leadership.me().name, "starting the controllers");
        let tasks = start(term.clone(), since);
        // Lead until the role changes away from leader (or the server stops).
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = role.changed() => {
                    if changed.is_err() || !role.borrow_and_update().is_leader() {
                        break;
                    }
                }
            }
        }
        term.cancel();
        for task in tasks {
            let _ = task.await;
        }
        tracing::info!(server = %leadership.me().name, "the controllers have stopped");
        if shutdown.is_cancelled() {
            break;
        }
    }
    if let Leadership::Etcd(handle) = &leadership {
        handle.release();
    }
}
