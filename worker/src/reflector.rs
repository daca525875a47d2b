//! A local, always-current copy of one kind of object: list, then watch from the list's
//! revision; on a broken stream resume from the last revision seen, on `410 Gone` list again.
//! Objects are decoded once, when they arrive, and shared: the loops that read the cache on every
//! change (pod manager, routing table) copy pointers, not objects.

use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{AnyObject, Client, Kind, ObjectKey, WatchEventType};

pub struct Reflector<T> {
    kind: Kind,
    objects: Arc<RwLock<HashMap<ObjectKey, Arc<T>>>>,
    /// Bumped after every change to the cache; the first bump marks the first complete list.
    version: watch::Sender<u64>,
}

impl<T> Clone for Reflector<T> {
    fn clone(&self) -> Self {
        Reflector {
            kind: self.kind,
            objects: self.objects.clone(),
            version: self.version.clone(),
        }
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> Reflector<T> {
    pub fn new(kind: Kind) -> Reflector<T> {
        Reflector {
            kind,
            objects: Arc::default(),
            version: watch::channel(0).0,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// True once the first list has landed.
    pub fn synced(&self) -> bool {
        *self.version.borrow() > 0
    }

    /// Every object in the cache.
    pub fn list(&self) -> Vec<Arc<T>> {
        self.objects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The object's key and its decoded form; an object that does not decode is logged and
    /// left out (the API server validated it, so this means client and server disagree).
    fn decode(&self, object: AnyObject) -> Option<(ObjectKey, Arc<T>)> {
        let key = object.key()?;
        match serde_json::from_value(object.0) {
            Ok(typed) => Some((key, Arc::new(typed))),
            Err(error) => {
                tracing::warn!(kind = %self.kind, object = %key, %error, "cannot decode; ignored");
                None
            }
        }
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Keeps the cache current until `shutdown`.
    pub async fn run(self, client: Client, shutdown: CancellationToken) {
        let mut revision: Option<u64> = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let rev = match revision {
                Some(r) => r,
                None => match client.list(self.kind, None).await {
                    Ok(list) => {
                        let fresh = list
                            .items
                            .into_iter()
                            .filter_map(|o| self.decode(o))
                            .collect();
                        *self.objects.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                        self.bump();
                        revision = Some(list.revision);
                        list.revision
                    }
                    Err(error) => {
                        tracing::warn!(kind = %self.kind, %error, "list failed; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                },
            };
            match client.watch(self.kind, rev).await {
                Ok(stream) => {
                    let mut stream = Box::pin(stream);
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            next = tokio::time::timeout(Duration::from_secs(45), stream.next()) => next,
                        };
                        match next {
                            Ok(Some(Ok(event))) => {
                                // The changes of one batch share its revision and the stream
                                // may break between them: resume from before the batch (its
                                // changes apply again, harmlessly). A bookmark is whole.
                                revision = Some(match event.event_type {
                                    WatchEventType::Bookmark => event.revision,
                                    _ => event.revision.saturating_sub(1),
                                });
                                let Some(object) = event.object else { continue };
                                if event.event_type == WatchEventType::Deleted {
                                    let Some(key) = object.key() else { continue };
                                    self.objects
                                        .write()
                                        .unwrap_or_else(|p| p.into_inner())
                                        .remove(&key);
                                } else {
                                    let Some((key, typed)) = self.decode(object) else {
                                        continue;
                                    };
                                    self.objects
                                        .write()
                                        .unwrap_or_else(|p| p.into_inner())
                                        .insert(key, typed);
                                }
                                self.bump();
                            }
                            Ok(Some(Err(error))) => {
                                tracing::debug!(kind = %self.kind, %error, "watch stream broke; resuming");
                                break;
                            }
                            Ok(None) | Err(_) => break,
                        }
                    }
                }
                Err(error) if error.status() == Some(410) => revision = None,
                Err(error) => {
                    tracing::warn!(kind = %self.kind, %error, "watch failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }
}
