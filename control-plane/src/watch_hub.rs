//! Fans committed changes out to watchers. Keeps a bounded history so a client can resume a
//! watch from the revision of its last list; older revisions get `Gone` and must list again.

use futures::Stream;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

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
    pub deleted: bool,
    pub created: bool,
}

/// A change as watchers receive it: the object already serialised once (a fraction of the
/// memory of its JSON tree, and no per-watcher serialisation).
#[derive(Debug, Clone)]
pub struct Published {
    pub revision: u64,
    pub key: ObjectKey,
    pub json: bytes::Bytes,
    pub deleted: bool,
    pub created: bool,
}

impl Published {
    pub(crate) fn from_change(change: &Change) -> Published {
        Published {
            revision: change.revision,
            key: change.key.clone(),
            json: serde_json::to_vec(&change.object)
                .unwrap_or_default()
                .into(),
            deleted: change.deleted,
            created: change.created,
        }
    }
}

struct History {
    /// Changes after `floor`, oldest first.
    changes: VecDeque<Arc<Published>>,
    /// The newest revision that is no longer in `changes`.
    floor: u64,
}

pub struct WatchHub {
    history: Mutex<History>,
    sender: broadcast::Sender<Arc<Published>>,
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
            }),
            sender: broadcast::channel(CHANNEL).0,
        }
    }

    /// Hands durable changes, in revision order, to history and watchers.
    pub(crate) fn publish(&self, changes: Vec<Arc<Published>>) {
        if changes.is_empty() {
            return;
        }
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            history.changes.push_back(change.clone());
            if history.changes.len() > HISTORY {
                if let Some(old) = history.changes.pop_front() {
                    history.floor = old.revision;
                }
            }
            let _ = self.sender.send(change);
        }
    }

    /// Wakes on every change (controllers use it to know when to reconcile).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }

    /// Every change to `kind` after `revision`, then every later one as it happens. The stream
    /// ends if the watcher falls too far behind; the client then resumes or lists again.
    pub fn watch(
        &self,
        kind: Option<Kind>,
        revision: u64,
    ) -> Result<impl Stream<Item = Arc<Published>> + Send + 'static, Gone> {
        let receiver = self.sender.subscribe();
        let backlog: Vec<Arc<Published>> = {
            let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if revision < history.floor {
                return Err(Gone {
                    oldest: history.floor,
                });
            }
            history
                .changes
                .iter()
                .filter(|c| c.revision > revision)
                .cloned()
                .collect()
        };
        let wanted = move |c: &Published| kind.is_none_or(|k| c.key.kind == k);
        let last = backlog.last().map(|c| c.revision).unwrap_or(revision);
        let backlog = backlog
            .into_iter()
            .filter(move |c| wanted(c))
            .collect::<VecDeque<_>>();
        Ok(futures::stream::unfold(
            (backlog, receiver, last),
            move |(mut backlog, mut receiver, mut last)| async move {
                if let Some(change) = backlog.pop_front() {
                    return Some((change, (backlog, receiver, last)));
                }
                loop {
                    match receiver.recv().await {
                        Ok(change) if change.revision <= last => continue,
                        Ok(change) => {
                            last = change.revision;
                            if wanted(&change) {
                                return Some((change, (backlog, receiver, last)));
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
            deleted: false,
            created: true,
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

    #[test]
    fn revision_before_history_is_gone() {
        let hub = WatchHub::new(10);
        assert!(hub.watch(None, 9).is_err());
        assert!(hub.watch(None, 10).is_ok());
    }
}
