//! The cache itself: one [`Writer`], many [`Store`] read handles.

use crate::object::{AnyObject, Kind, ObjectKey};
use crate::watch::{WatchEvent, WatchEventType};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type Objects<T> = Arc<RwLock<BTreeMap<ObjectKey, Arc<T>>>>;

/// A new, empty cache of `kind` decoded as `T`: its read handle and its one writer.
pub fn store<T: DeserializeOwned + Send + Sync + 'static>(kind: Kind) -> (Store<T>, Writer<T>) {
    let writer = Writer {
        kind,
        objects: Arc::default(),
        changes: watch::channel(0).0,
        ready: watch::channel(false).0,
        listed_at: None,
    };
    (writer.reader(), writer)
}

/// The one writer of a cache (not `Clone`: two writers would undo each other's lists).
pub struct Writer<T> {
    kind: Kind,
    objects: Objects<T>,
    /// Counts the changes made; the first marks the first list.
    changes: watch::Sender<u64>,
    /// Whether the first complete list has landed (and it stays so).
    ready: watch::Sender<bool>,
    /// The revision of the list the cache holds; `None` until the first.
    listed_at: Option<u64>,
}

impl<T: DeserializeOwned + Send + Sync + 'static> Writer<T> {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// A read handle (as many as wanted).
    pub fn reader(&self) -> Store<T> {
        Store {
            kind: self.kind,
            objects: self.objects.clone(),
            changes: self.changes.clone(),
            ready: self.ready.clone(),
        }
    }

    /// The revision of the list the cache was last filled from.
    pub fn listed_at(&self) -> Option<u64> {
        self.listed_at
    }

    /// Replaces the whole content with a complete list read at `revision` (what is not in it is
    /// gone) and marks the cache ready.
    pub fn replace(&mut self, objects: impl IntoIterator<Item = AnyObject>, revision: u64) {
        let fresh = objects
            .into_iter()
            .filter_map(|object| Some((object.key()?, self.decode(&object)?)))
            .collect();
        *self.objects.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        self.listed_at = Some(revision);
        self.changes.send_modify(|n| *n += 1);
        self.ready
            .send_if_modified(|ready| !std::mem::replace(ready, true));
    }

    /// Applies one change committed at `revision`: the object as written, or `None` when it was
    /// deleted. A change no newer than the list is already in it, and one before any list has
    /// nothing to apply to: both are ignored (false).
    pub fn apply(&mut self, key: &ObjectKey, object: Option<&AnyObject>, revision: u64) -> bool {
        if key.kind != self.kind || self.listed_at.is_none_or(|listed| revision <= listed) {
            return false;
        }
        // An object that no longer decodes leaves the cache rather than stay stale.
        let decoded = object.and_then(|o| self.decode(o));
        {
            let mut objects = self.objects.write().unwrap_or_else(|p| p.into_inner());
            match decoded {
                Some(typed) => {
                    objects.insert(key.clone(), typed);
                }
                None => {
                    objects.remove(key);
                }
            }
        }
        self.changes.send_modify(|n| *n += 1);
        true
    }

    /// Applies one event of a watch stream (a bookmark changes nothing).
    pub fn apply_event(&mut self, event: &WatchEvent) -> bool {
        let Some(object) = &event.object else {
            return false;
        };
        let Some(key) = object.key() else {
            tracing::warn!(kind = %self.kind, "watch event without a key; ignored");
            return false;
        };
        match event.event_type {
            WatchEventType::Bookmark => false,
            WatchEventType::Deleted => self.apply(&key, None, event.revision),
            WatchEventType::Added | WatchEventType::Modified => {
                self.apply(&key, Some(object), event.revision)
            }
        }
    }

    /// The object decoded as `T`; one that does not decode is logged and left out (its writer
    /// validated it, so this means the two sides disagree on the type).
    fn decode(&self, object: &AnyObject) -> Option<Arc<T>> {
        match T::deserialize(&object.0) {
            Ok(typed) => Some(Arc::new(typed)),
            Err(error) => {
                tracing::warn!(kind = %self.kind, object = object.name(), %error, "cannot decode; left out of the cache");
                None
            }
        }
    }
}

/// A read handle of a cache: cheap to clone, never blocks on the writer for long.
pub struct Store<T> {
    kind: Kind,
    objects: Objects<T>,
    changes: watch::Sender<u64>,
    ready: watch::Sender<bool>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Store {
            kind: self.kind,
            objects: self.objects.clone(),
            changes: self.changes.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<T> Store<T> {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Every cached object, in key order.
    pub fn list(&self) -> Vec<Arc<T>> {
        self.read().values().cloned().collect()
    }

    /// The cached objects of one namespace (or all), in key order. As in the store, a namespace
    /// narrows only namespaced kinds.
    pub fn list_in(&self, namespace: Option<&str>) -> Vec<Arc<T>> {
        match namespace.filter(|_| self.kind.namespaced()) {
            None => self.list(),
            Some(ns) => self
                .read()
                .iter()
                .filter(|(key, _)| key.namespace == ns)
                .map(|(_, object)| object.clone())
                .collect(),
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Arc<T>> {
        self.read().get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Whether the first complete list has landed.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once the first complete list has landed (at once if it has).
    pub async fn ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives in this handle too, so the channel cannot close while we wait.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// A receiver that wakes on every change to the cache after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<ObjectKey, Arc<T>>> {
        self.objects.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;
    use futures::FutureExt;
    use serde_json::json;

    fn service(name: &str, ns: &str, app: &str) -> AnyObject {
        AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"app": app}}}))
    }

    fn event(event_type: WatchEventType, revision: u64, object: AnyObject) -> WatchEvent {
        WatchEvent {
            event_type,
            revision,
            object: Some(object),
        }
    }

    #[test]
    fn changes_after_the_list_apply_and_older_ones_are_already_in_it() {
        let (reader, mut writer) = store::<Service>(Kind::Service);
        let a = service("a", "default", "x");
        // Before any list there is nothing to apply a change to.
        assert!(!writer.apply(&a.key().unwrap(), Some(&a), 1));
        writer.replace(vec![a.clone()], 5);
        let b = service("b", "shop", "y");
        assert!(writer.apply_event(&event(WatchEventType::Added, 6, b.clone())));
        let old = service("a", "default", "old");
        assert!(!writer.apply(&old.key().unwrap(), Some(&old), 5));
        let a2 = service("a", "default", "z");
        assert!(writer.apply_event(&event(WatchEventType::Modified, 7, a2)));
        let all = reader.list();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].spec.selector["app"], "z");
        assert_eq!(reader.list_in(Some("shop")).len(), 1);
        assert_eq!(reader.list_in(Some("nowhere")).len(), 0);
        assert!(writer.apply_event(&event(WatchEventType::Deleted, 8, b.clone())));
        assert_eq!(reader.len(), 1);
        assert!(reader.get(&b.key().unwrap()).is_none());
        // A bookmark and a change of another kind change nothing.
        assert!(!writer.apply_event(&WatchEvent {
            event_type: WatchEventType::Bookmark,
            revision: 9,
            object: None,
        }));
        let mut pod_key = a.key().unwrap();
        pod_key.kind = Kind::Pod;
        assert!(!writer.apply(&pod_key, Some(&a), 10));
    }

    #[test]
    fn a_relist_replaces_everything_and_undecodable_objects_are_left_out() {
        let (reader, mut writer) = store::<Service>(Kind::Service);
        writer.replace(
            vec![service("a", "default", "x"), service("b", "default", "y")],
            3,
        );
        assert_eq!(reader.len(), 2);
        let broken = AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": "c", "namespace": "default"}, "spec": {"selector": 7}}));
        writer.replace(vec![service("b", "default", "z"), broken.clone()], 9);
        let names: Vec<String> = reader
            .list()
            .iter()
            .map(|s| s.metadata.name.to_string())
            .collect();
        assert_eq!(names, ["b"]);
        assert_eq!(writer.listed_at(), Some(9));
        // A change that stops decoding removes the object instead of leaving it stale.
        let b = service("b", "default", "z");
        let mut bad_b = broken;
        bad_b.0["metadata"]["name"] = json!("b");
        assert!(writer.apply(&b.key().unwrap(), Some(&bad_b), 10));
        assert!(reader.is_empty());
    }

    #[tokio::test]
    async fn readers_wait_for_the_first_list_and_wake_on_changes() {
        let (reader, mut writer) = store::<Service>(Kind::Service);
        assert!(!reader.is_ready());
        let waiting = reader.clone();
        let mut ready = Box::pin(async move { waiting.ready().await });
        assert!(
            (&mut ready).now_or_never().is_none(),
            "ready before any list"
        );
        let mut changes = reader.subscribe();
        writer.replace(Vec::new(), 1);
        ready.await;
        assert!(reader.is_ready());
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        let a = service("a", "default", "x");
        writer.apply(&a.key().unwrap(), Some(&a), 2);
        assert!(changes.has_changed().unwrap());
        // Still ready after a relist: readers keep the old content until the new one lands.
        writer.replace(Vec::new(), 3);
        assert!(reader.is_ready());
        reader.ready().await;
    }
}
