//! The one way a committed batch reaches this server's readers: the typed caches, then the watch
//! hub, in revision order. With sled the registry ingests its own commits once they are durable;
//! with etcd (where other servers write too) the store's change feed ingests every batch, and a
//! local commit waits until its revision is ingested (read-your-writes for the controllers).

use crate::store::{ChangeType, FeedItem};
use crate::typed_cache::TypedCaches;
use crate::watch_hub::{Change, Published, WatchHub};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

pub(crate) struct Ingest {
    pub(crate) hub: WatchHub,
    /// Decoded objects of the kinds listed as types so far, current with what was ingested.
    pub(crate) caches: RwLock<TypedCaches>,
    /// Every batch up to this revision has been ingested.
    ingested: Mutex<u64>,
    advanced: Condvar,
}

impl Ingest {
    pub(crate) fn new(revision: u64) -> Ingest {
        Ingest {
            hub: WatchHub::new(revision),
            caches: RwLock::default(),
            ingested: Mutex::new(revision),
            advanced: Condvar::new(),
        }
    }

    /// Ingests the changes of one committed batch (callers keep revision order).
    pub(crate) fn batch(&self, revision: u64, changes: &[Change]) {
        {
            let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
            for change in changes {
                let object = (change.change != ChangeType::Deleted).then_some(&change.object);
                caches.update(&change.key, object, revision);
            }
        }
        self.hub.publish(
            changes
                .iter()
                .map(|c| Arc::new(Published::from_change(c)))
                .collect(),
        );
        self.advance(revision);
    }

    /// What happened up to `revision` is unknown: caches are dropped (the next list fills them
    /// again) and watchers of older revisions are told to list again.
    pub(crate) fn reset(&self, revision: u64) {
        self.caches
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.hub.reset(revision);
        self.advance(revision);
    }

    /// One item of a store's change feed.
    pub(crate) fn feed(&self, item: FeedItem) {
        match item {
            FeedItem::Batch { revision, events } => {
                let changes: Vec<Change> = events
                    .into_iter()
                    .map(|event| Change {
                        revision,
                        key: event.key,
                        object: event.object,
                        change: event.change,
                    })
                    .collect();
                self.batch(revision, &changes);
            }
            FeedItem::Reset { revision } => self.reset(revision),
        }
    }

    fn advance(&self, revision: u64) {
        let mut ingested = self.ingested.lock().unwrap_or_else(|p| p.into_inner());
        if revision > *ingested {
            *ingested = revision;
            self.advanced.notify_all();
        }
    }

    /// Waits until `revision` is ingested; false if `timeout` passed first.
    pub(crate) fn wait_for(&self, revision: u64, timeout: Duration) -> bool {
        let ingested = self.ingested.lock().unwrap_or_else(|p| p.into_inner());
        let (ingested, _) = self
            .advanced
            .wait_timeout_while(ingested, timeout, |ingested| *ingested < revision)
            .unwrap_or_else(|p| p.into_inner());
        *ingested >= revision
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::Registry;
    use crate::store::{
        ChangeType, Delegate, FeedEvent, FeedItem, FeedSink, SledStore, Store, StoreError,
        TxnOutcome,
    };
    use futures::{FutureExt, StreamExt};
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use wasmpod_api::{AnyObject, Kind, ObjectKey, Service};

    /// A store whose change feed the test writes by hand.
    struct HandFed {
        inner: SledStore,
        sink: Mutex<Option<FeedSink>>,
    }

    impl HandFed {
        fn feed(&self, item: FeedItem) {
            if let Some(sink) = self.sink.lock().unwrap().as_mut() {
                sink(item)
            }
        }

        fn put(&self, name: &str) -> (u64, FeedEvent) {
            let key = ObjectKey::new(Kind::Service, "default", name);
            let object = AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"selector": {"app": name}}}));
            let TxnOutcome::Committed { revision } = self
                .inner
                .txn(&[], &[(key.clone(), Some(object.clone()))])
                .unwrap()
            else {
                panic!("no compares")
            };
            let event = FeedEvent {
                key,
                change: ChangeType::Added,
                object,
            };
            (revision, event)
        }
    }

    impl Delegate for HandFed {
        fn inner(&self) -> &dyn Store {
            &self.inner
        }
        fn follow(&self, _revision: u64, sink: FeedSink) -> Result<bool, StoreError> {
            *self.sink.lock().unwrap() = Some(sink);
            Ok(true)
        }
    }

    #[test]
    fn a_feed_reset_ends_watches_refuses_older_revisions_and_relists_caches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(HandFed {
            inner: SledStore::open(dir.path()).unwrap(),
            sink: Mutex::new(None),
        });
        let registry = Registry::new(store.clone()).unwrap();
        let (first, event) = store.put("a");
        store.feed(FeedItem::Batch {
            revision: first,
            events: vec![event],
        });
        assert_eq!(registry.hub().revision(), first);
        let cached = registry
            .list_shared::<Service>(Kind::Service, None)
            .unwrap();
        assert_eq!(cached.len(), 1);
        let mut watch = Box::pin(registry.hub().watch(None, first).unwrap());
        // Two batches the feed never delivered (compacted away while it was disconnected).
        store.put("b");
        let (lost, _) = store.put("c");
        store.feed(FeedItem::Reset { revision: lost });
        assert!(
            matches!(watch.next().now_or_never(), Some(None)),
            "open watches end"
        );
        let gone = registry.hub().watch(None, first).err().expect("gone");
        assert_eq!(gone.oldest, lost);
        assert_eq!(
            registry
                .list_shared::<Service>(Kind::Service, None)
                .unwrap()
                .len(),
            3,
            "the cache was dropped and filled again from the store"
        );
        // The feed goes on after the reset.
        let (next, event) = store.put("d");
        store.feed(FeedItem::Batch {
            revision: next,
            events: vec![event],
        });
        let mut after = Box::pin(registry.hub().watch(None, lost).unwrap());
        assert_eq!(
            after.next().now_or_never().flatten().map(|c| c.revision),
            Some(next)
        );
        assert_eq!(
            registry
                .list_shared::<Service>(Kind::Service, None)
                .unwrap()
                .len(),
            4
        );
    }
}
