//! Fans committed changes out to watchers. Keeps a bounded history so a client can resume a
//! watch from the revision of its last list; older revisions get `Gone` and must list again.
//! The changes of one batch share its revision and are published together.

use futures::Stream;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

pub use crate::store::ChangeType;

/// Changes kept for watchers resuming from a revision; older ones must list again.
const HISTORY: usize = 20_000;
const CHANNEL: usize = 65_536;

/// One committed change.
#[derive(Debug, Clone)]
pub struct Change {
    pub revision: u64,
    pub key: ObjectKey,
    /// The object as written, or as it was when deleted (stamped with the delete's revision).
    pub object: AnyObject,
    pub change: ChangeType,
}

/// A change as watchers receive it: the object already serialised once (a fraction of the
/// memory of its JSON tree, and no per-watcher serialisation).
#[derive(Debug, Clone)]
pub struct Published {
    pub revision: u64,
    pub key: ObjectKey,
    pub json: bytes::Bytes,
    pub change: ChangeType,
}

impl Published {
    pub(crate) fn from_change(change: &Change) -> Published {
        Published {
            revision: change.revision,
            key: change.key.clone(),
            json: serde_json::to_vec(&change.object)
                .unwrap_or_default()
                .into(),
            change: change.change,
        }
    }
}

struct History {
    /// Changes after `floor`, oldest first.
    changes: VecDeque<Arc<Published>>,
    /// The newest revision that is no longer in `changes`.
    floor: u64,
    /// The newest revision published (or the start).
    last: u64,
    sender: broadcast::Sender<Arc<Published>>,
    /// Counts [`WatchHub::reset`]s: every watch stream ends at the next one.
    resets: tokio::sync::watch::Sender<u64>,
}

pub struct WatchHub {
    history: Mutex<History>,
}

/// The requested revision is older than the history kept.
#[derive(Debug, Clone, Copy)]
pub struct Gone {
    pub oldest: u64,
}

impl WatchHub {
    pub fn new(revision: u64) -> WatchHub {
        WatchHub {
            history: Mutex::new(History {
                changes: VecDeque::new(),
                floor: revision,
                last: revision,
                sender: broadcast::channel(CHANNEL).0,
                resets: tokio::sync::watch::channel(0).0,
            }),
        }
    }

    /// The newest revision published: a watcher has seen everything up to it.
    pub fn revision(&self) -> u64 {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).last
    }

    /// Forgets the history: what happened up to `revision` is unknown, so every watch from an
    /// older revision is [`Gone`] and every open stream ends (its client resumes, gets `Gone`,
    /// and lists again).
    pub(crate) fn reset(&self, revision: u64) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.changes.clear();
        history.floor = history.floor.max(revision);
        history.last = history.last.max(revision);
        history.resets.send_modify(|n| *n += 1);
    }

    /// Hands durable changes, in revision order, to history and watchers.
    pub(crate) fn publish(&self, changes: Vec<Arc<Published>>) {
        if changes.is_empty() {
            return;
        }
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            history.last = history.last.max(change.revision);
            history.changes.push_back(change.clone());
            if history.changes.len() > HISTORY {
                if let Some(old) = history.changes.pop_front() {
                    history.floor = old.revision;
                }
            }
            let _ = history.sender.send(change);
        }
    }

    /// Wakes on every change (controllers use it to know when to reconcile; it goes on across a
    /// reset).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sender
            .subscribe()
    }

    /// Every change to `kind` after `revision`, then every later one as it happens. The stream
    /// ends if the watcher falls too far behind; the client then resumes or lists again.
    pub fn watch(
        &self,
        kind: Option<Kind>,
        revision: u64,
    ) -> Result<impl Stream<Item = Arc<Published>> + Send + 'static, Gone> {
        let (receiver, resets, backlog) = {
            let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if revision < history.floor {
                return Err(Gone {
                    oldest: history.floor,
                });
            }
            let backlog: Vec<Arc<Published>> = history
                .changes
                .iter()
                .filter(|c| c.revision > revision)
                .cloned()
                .collect();
            let mut resets = history.resets.subscribe();
            resets.mark_unchanged();
            (history.sender.subscribe(), resets, backlog)
        };
        let wanted = move |c: &Published| kind.is_none_or(|k| c.key.kind == k);
        // The receiver was subscribed under the same lock as the backlog was read, so it holds
        // exactly the changes after the backlog (a batch is published whole under that lock);
        // only changes up to `revision` (when it is ahead of the hub) are skipped.
        let last = revision;
        let backlog = backlog
            .into_iter()
            .filter(move |c| wanted(c))
            .collect::<VecDeque<_>>();
        Ok(futures::stream::unfold(
            (backlog, receiver, resets, last),
            move |(mut backlog, mut receiver, mut resets, last)| async move {
                if let Some(change) = backlog.pop_front() {
                    return Some((change, (backlog, receiver, resets, last)));
                }
                loop {
                    let received = tokio::select! {
                        received = receiver.recv() => received,
                        // What happened before the reset is unknown: the client lists again.
                        _ = resets.changed() => return None,
                    };
                    match received {
                        Ok(change) if change.revision <= last => continue,
                        Ok(change) => {
                            if wanted(&change) {
                                return Some((change, (backlog, receiver, resets, last)));
                            }
                        }
                        Err(_) => return None,
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use serde_json::json;

    fn change(revision: u64, kind: Kind) -> Arc<Published> {
        Arc::new(Published::from_change(&Change {
            revision,
            key: ObjectKey::new(kind, "default", "x"),
            object: AnyObject(json!({})),
            change: ChangeType::Added,
        }))
    }

    #[tokio::test]
    async fn watch_resumes_from_revision_then_follows() {
        let hub = WatchHub::new(0);
        hub.publish(vec![
            change(1, Kind::Pod),
            change(2, Kind::Service),
            change(3, Kind::Pod),
        ]);
        let mut stream = Box::pin(hub.watch(Some(Kind::Pod), 1).unwrap());
        assert_eq!(stream.next().await.unwrap().revision, 3);
        hub.publish(vec![change(4, Kind::Service), change(5, Kind::Pod)]);
        assert_eq!(stream.next().await.unwrap().revision, 5);
    }

    #[tokio::test]
    async fn a_batch_shares_one_revision_and_reaches_live_watchers_whole() {
        let hub = WatchHub::new(0);
        let mut stream = Box::pin(hub.watch(None, 0).unwrap());
        hub.publish(vec![change(1, Kind::Pod), change(1, Kind::Service)]);
        assert_eq!(stream.next().await.unwrap().key.kind, Kind::Pod);
        assert_eq!(stream.next().await.unwrap().key.kind, Kind::Service);
        assert_eq!(hub.revision(), 1);
    }

    #[tokio::test]
    async fn reset_ends_streams_and_refuses_older_revisions() {
        let hub = WatchHub::new(0);
        let mut stream = Box::pin(hub.watch(None, 0).unwrap());
        hub.reset(7);
        assert!(stream.next().await.is_none());
        assert!(hub.watch(None, 6).is_err());
        assert!(hub.watch(None, 7).is_ok());
        assert_eq!(hub.revision(), 7);
    }

    #[test]
    fn revision_before_history_is_gone() {
        let hub = WatchHub::new(10);
        assert!(hub.watch(None, 9).is_err());
        assert!(hub.watch(None, 10).is_ok());
    }
}
