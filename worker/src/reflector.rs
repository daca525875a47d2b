//! A local, always-current copy of one kind of object: list, then watch from the list's
//! revision; on a broken stream resume from the last revision seen, on `410 Gone` list again.

use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{AnyObject, Client, Kind, ObjectKey, WatchEventType};

#[derive(Clone)]
pub struct Reflector {
    kind: Kind,
    objects: Arc<RwLock<HashMap<ObjectKey, AnyObject>>>,
    /// Bumped after every change to the cache; the first bump marks the first complete list.
    version: watch::Sender<u64>,
}

impl Reflector {
    pub fn new(kind: Kind) -> Reflector {
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

    pub fn snapshot(&self) -> Vec<AnyObject> {
        self.objects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Vec<T> {
        let objects = self.objects.read().unwrap_or_else(|p| p.into_inner());
        objects.values().filter_map(|o| o.to_typed().ok()).collect()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<AnyObject> {
        self.objects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
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
                            .filter_map(|o| o.key().map(|k| (k, o)))
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
                                revision = Some(event.revision);
                                let Some(object) = event.object else { continue };
                                let Some(key) = object.key() else { continue };
                                {
                                    let mut objects =
                                        self.objects.write().unwrap_or_else(|p| p.into_inner());
                                    match event.event_type {
                                        WatchEventType::Deleted => {
                                            objects.remove(&key);
                                        }
                                        _ => {
                                            objects.insert(key, object);
                                        }
                                    }
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
