//! The registry: the store plus what every writer needs on top of it — one serialised commit
//! path that stamps metadata and revisions, skips writes that change nothing, and feeds the watch
//! hub; typed reads; read-modify-write; events.
//!
//! Group commit: a writer applies its batch under the write lock, then flushes outside it, so
//! writers arriving during one disk flush share the next one instead of queueing for one each.
//! Watchers see a change only once it is durable, in revision order.

use crate::store::{Store, StoreError};
use crate::typed_cache::TypedCaches;
use crate::watch_hub::{Change, Published, WatchHub};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use thiserror::Error;
use wasmpod_api::name::validate_object_key;
use wasmpod_api::{
    AnyObject, Event, EventSpec, EventType, Kind, Name, NoStatus, Object, ObjectKey, ObjectMeta,
    ObjectReference,
};

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("{key}: {conflict}")]
    Conflict { key: String, conflict: Conflict },
    /// A write whose namespace or name is not a DNS-1123 label: refused, never stored.
    #[error("{key}: {source}")]
    BadName {
        key: String,
        #[source]
        source: wasmpod_api::ValidationError,
    },
}

/// Why a conditional write was refused (HTTP 409, or 404 for an object gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Conflict {
    #[error("the object has been modified; read it again")]
    Modified,
    #[error("the object already exists")]
    AlreadyExists,
    #[error("the object no longer exists")]
    Gone,
}

/// One write of an atomic batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Declared state (`apply`): creates the object or replaces whatever is stored.
    Put(AnyObject),
    /// Creates the object; refused with [`Conflict::AlreadyExists`] if the name is taken.
    Create(AnyObject),
    /// Replaces the object as it was read: its `metadata.resourceVersion` must still be the
    /// stored one ([`Conflict::Modified`]), and it must still exist ([`Conflict::Gone`]).
    Update(AnyObject),
    Delete(ObjectKey),
}

/// What a controller's independent write groups came to: the changes of those committed and the
/// conflicts of those refused (each group is atomic on its own).
#[derive(Debug, Default)]
pub struct GroupOutcome {
    pub changes: Vec<Change>,
    pub refused: Vec<Refused>,
}

/// A group of writes refused by a conflict.
#[derive(Debug)]
pub struct Refused {
    /// Its index among the groups passed to [`Registry::commit_groups`].
    pub group: usize,
    pub error: RegistryError,
}

impl GroupOutcome {
    pub fn was_refused(&self, group: usize) -> bool {
        self.refused.iter().any(|r| r.group == group)
    }
}

pub struct Registry {
    store: Arc<dyn Store>,
    hub: WatchHub,
    write_lock: Mutex<()>,
    /// Changes applied to the store and not yet known durable, oldest first.
    unpublished: Mutex<VecDeque<Arc<Published>>>,
    /// The revision of the newest applied batch.
    applied: AtomicU64,
    /// Held while the store flushes; writers waiting here are often covered by that flush.
    flush_lock: Mutex<()>,
    /// Every revision up to this one is durable.
    flushed: AtomicU64,
    /// Decoded objects of the kinds listed as types so far, current with the store.
    caches: RwLock<TypedCaches>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Result<Registry, RegistryError> {
        let revision = store.revision()?;
        Ok(Registry {
            store,
            hub: WatchHub::new(revision),
            write_lock: Mutex::new(()),
            unpublished: Mutex::default(),
            applied: AtomicU64::new(revision),
            flush_lock: Mutex::new(()),
            flushed: AtomicU64::new(revision),
            caches: RwLock::default(),
        })
    }

    pub fn hub(&self) -> &WatchHub {
        &self.hub
    }

    pub fn revision(&self) -> Result<u64, RegistryError> {
        Ok(self.store.revision()?)
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, RegistryError> {
        Ok(self.store.get(key)?)
    }

    pub fn get_typed<T: DeserializeOwned>(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<T>, RegistryError> {
        match self.store.get(key)? {
            Some(object) => decode(key, &object).map(Some),
            None => Ok(None),
        }
    }

    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), RegistryError> {
        Ok(self.store.list(kind, namespace)?)
    }

    /// Every object of `kind` that decodes as `T` (one that does not is logged and skipped),
    /// shared with the registry's cache: the first call for a kind and type decodes the store's
    /// objects, later ones copy pointers.
    pub fn list_shared<T>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<Arc<T>>, RegistryError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        {
            let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
            if caches.has::<T>(kind) {
                return Ok(caches.list(kind, namespace));
            }
        }
        // Under the write lock no commit lands between the store's list and the cache's fill.
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
        if !caches.has::<T>(kind) {
            let (items, _) = self.store.list(kind, None)?;
            caches.fill::<T>(kind, items);
        }
        Ok(caches.list(kind, namespace))
    }

    /// [`Registry::list_shared`], as owned copies.
    pub fn list_typed<T>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<T>, RegistryError>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        Ok(self
            .list_shared::<T>(kind, namespace)?
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    /// Commits `writes` atomically. Returns the changes made (writes that change nothing are
    /// dropped), after they are durable and published to watchers.
    pub fn commit(&self, writes: Vec<Write>) -> Result<Vec<Change>, RegistryError> {
        let guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let changes = self.apply_locked(writes)?;
        drop(guard);
        self.make_durable(&changes)?;
        Ok(changes)
    }

    /// Makes `changes` durable, flushing the store unless a flush that began after they were
    /// applied has already done it, then publishes every durable change in revision order.
    /// If the flush fails the caller gets the error; the batch stays applied and is published
    /// by the next flush that succeeds (like a timed-out etcd write, it may yet persist).
    fn make_durable(&self, changes: &[Change]) -> Result<(), RegistryError> {
        let Some(mine) = changes.last().map(|c| c.revision) else {
            return Ok(());
        };
        {
            let _flushing = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.flushed.load(Ordering::SeqCst) < mine {
                // Everything applied before this load is covered by the flush that follows it.
                let covered = self.applied.load(Ordering::SeqCst);
                self.store.flush()?;
                self.flushed.fetch_max(covered, Ordering::SeqCst);
            }
        }
        let flushed = self.flushed.load(Ordering::SeqCst);
        let mut unpublished = self.unpublished.lock().unwrap_or_else(|p| p.into_inner());
        let mut durable = Vec::new();
        while unpublished
            .front()
            .is_some_and(|change| change.revision <= flushed)
        {
            durable.extend(unpublished.pop_front());
        }
        // Still under the queue's lock, so concurrent publishers keep revision order.
        self.hub.publish(durable);
        Ok(())
    }

    /// Commits independent groups of writes with one flush: each group is atomic on its own, and
    /// a group refused by a conflict leaves the others to go through (a controller's pass must not
    /// fail for every object because one changed under it). Store failures still fail the call.
    pub fn commit_groups(&self, groups: Vec<Vec<Write>>) -> Result<GroupOutcome, RegistryError> {
        let guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut staged = Staged::new(self.store.revision()?);
        let mut refused = Vec::new();
        for (index, group) in groups.into_iter().enumerate() {
            match self.stage(&mut staged, group) {
                Ok(()) => {}
                Err(error @ RegistryError::Conflict { .. }) => refused.push(Refused {
                    group: index,
                    error,
                }),
                Err(other) => return Err(other),
            }
        }
        let changes = self.finish_locked(staged)?;
        drop(guard);
        self.make_durable(&changes)?;
        Ok(GroupOutcome { changes, refused })
    }

    /// Applies `writes` (visible at once, not yet durable) and queues them for watchers; the
    /// caller holds the write lock and calls [`Registry::make_durable`] after releasing it.
    fn apply_locked(&self, writes: Vec<Write>) -> Result<Vec<Change>, RegistryError> {
        let mut staged = Staged::new(self.store.revision()?);
        self.stage(&mut staged, writes)?;
        self.finish_locked(staged)
    }

    /// The object at `key` as the batch being staged sees it.
    fn current(
        &self,
        staged: &Staged,
        key: &ObjectKey,
    ) -> Result<Option<AnyObject>, RegistryError> {
        Ok(match staged.pending.iter().rev().find(|(k, _)| k == key) {
            Some((_, o)) => o.clone(),
            None => self.store.get(key)?,
        })
    }

    /// Adds one atomic group to `staged`, checking its conditions; on a conflict the group is
    /// taken back out whole and the conflict returned.
    fn stage(&self, staged: &mut Staged, writes: Vec<Write>) -> Result<(), RegistryError> {
        let mark = (staged.pending.len(), staged.changes.len(), staged.revision);
        let result = self.stage_writes(staged, writes);
        if result.is_err() {
            staged.pending.truncate(mark.0);
            staged.changes.truncate(mark.1);
            staged.revision = mark.2;
        }
        result
    }

    fn stage_writes(&self, staged: &mut Staged, writes: Vec<Write>) -> Result<(), RegistryError> {
        for write in writes {
            let (mut object, condition) = match write {
                Write::Delete(key) => {
                    let Some(mut object) = self.current(staged, &key)? else {
                        continue;
                    };
                    staged.revision += 1;
                    set_meta(&mut object, "resourceVersion", Value::from(staged.revision));
                    staged.pending.push((key.clone(), None));
                    staged.changes.push(Change {
                        revision: staged.revision,
                        key,
                        object,
                        deleted: true,
                        created: false,
                    });
                    continue;
                }
                Write::Put(object) => (object, None),
                Write::Create(object) => (object, Some(Precondition::Absent)),
                Write::Update(object) => (object, Some(Precondition::Version)),
            };
            let key = object.key().ok_or_else(|| RegistryError::Invalid {
                key: object.name().to_string(),
                message: "object has no known kind".into(),
            })?;
            // Every writer validates first; this keeps a bad name out of the store (and so out
            // of every node's paths) even if one forgets.
            validate_object_key(&key).map_err(|source| RegistryError::BadName {
                key: key.to_string(),
                source,
            })?;
            let existing = self.current(staged, &key)?;
            if let Some(condition) = condition {
                condition.check(&key, &object, existing.as_ref())?;
            }
            let created = existing.is_none();
            if !stamp(&mut object, existing.as_ref()) {
                continue;
            }
            staged.revision += 1;
            set_meta(&mut object, "resourceVersion", Value::from(staged.revision));
            staged.pending.push((key.clone(), Some(object.clone())));
            staged.changes.push(Change {
                revision: staged.revision,
                key,
                object,
                deleted: false,
                created,
            });
        }
        Ok(())
    }

    /// Applies what `staged` holds to the store, the caches and the watch queue.
    fn finish_locked(&self, staged: Staged) -> Result<Vec<Change>, RegistryError> {
        let Staged {
            revision,
            pending,
            changes,
        } = staged;
        if changes.is_empty() {
            return Ok(changes);
        }
        self.store.apply(revision, &pending)?;
        self.applied.store(revision, Ordering::SeqCst);
        {
            let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
            for (key, object) in &pending {
                caches.update(key, object.as_ref());
            }
        }
        self.unpublished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(changes.iter().map(|c| Arc::new(Published::from_change(c))));
        Ok(changes)
    }

    /// Reads the object at `key` as `T`, lets `change` edit it, and writes it back if `change`
    /// says it changed — all under the write lock, so no concurrent write is lost.
    pub fn modify<T, F>(&self, key: &ObjectKey, change: F) -> Result<Option<T>, RegistryError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&mut T) -> bool,
    {
        let guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(object) = self.store.get(key)? else {
            return Ok(None);
        };
        let mut typed: T = decode(key, &object)?;
        if change(&mut typed) {
            let any = to_any(key, &typed)?;
            let changes = self.apply_locked(vec![Write::Put(any)])?;
            drop(guard);
            self.make_durable(&changes)?;
        }
        Ok(Some(typed))
    }

    /// Records one event about `involved` (a repeat of the same reason and message bumps its count).
    pub fn record_event(
        &self,
        involved: &ObjectKey,
        event_type: EventType,
        reason: &str,
        message: &str,
        source: &str,
    ) {
        self.record_events(
            &[EventDraft {
                involved: involved.clone(),
                event_type,
                reason: reason.to_string(),
                message: message.to_string(),
            }],
            source,
        );
    }

    /// Records events in one commit; failures are logged, never returned (events are advisory).
    pub fn record_events(&self, drafts: &[EventDraft], source: &str) {
        if drafts.is_empty() {
            return;
        }
        let guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = Utc::now();
        let mut writes = Vec::new();
        for draft in drafts {
            let involved = &draft.involved;
            let digest =
                Sha256::digest(format!("{involved}|{}|{}", draft.reason, draft.message).as_bytes());
            let short: String = involved.name.chars().take(40).collect();
            let Ok(name) = Name::try_from(format!(
                "{}-{}",
                short.trim_end_matches('-'),
                &hex::encode(digest)[..12]
            )) else {
                continue;
            };
            let namespace = if involved.namespace.is_empty() {
                wasmpod_api::DEFAULT_NAMESPACE
            } else {
                &involved.namespace
            };
            let key = ObjectKey::new(Kind::Event, namespace, name.as_str());
            let existing = match self.get_typed::<Event>(&key) {
                Ok(e) => e,
                Err(error) => {
                    tracing::warn!(%error, "could not read event");
                    None
                }
            };
            let event = match existing {
                Some(mut e) => {
                    e.spec.count += 1;
                    e.spec.last_timestamp = now;
                    e
                }
                None => {
                    let mut metadata = ObjectMeta::named(name.clone());
                    metadata.namespace = Some(namespace.to_string());
                    let event: Event = Object::new(
                        Kind::Event,
                        metadata,
                        EventSpec {
                            involved_object: ObjectReference {
                                kind: involved.kind.as_str().to_string(),
                                namespace: involved.namespace.clone(),
                                name: involved.name.clone(),
                            },
                            reason: draft.reason.clone(),
                            message: draft.message.clone(),
                            event_type: draft.event_type,
                            source: source.to_string(),
                            count: 1,
                            first_timestamp: now,
                            last_timestamp: now,
                        },
                    );
                    let _: &NoStatus = &event.status;
                    event
                }
            };
            if let Ok(any) = to_any(&key, &event) {
                writes.push(Write::Put(any));
            }
        }
        let applied = self.apply_locked(writes);
        drop(guard);
        if let Err(error) = applied.and_then(|changes| self.make_durable(&changes)) {
            tracing::warn!(%error, "could not record events");
        }
    }
}

/// An event to record: what happened to which object.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub involved: ObjectKey,
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

impl EventDraft {
    pub fn normal(involved: ObjectKey, reason: &str, message: impl Into<String>) -> Self {
        EventDraft {
            involved,
            event_type: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn warning(involved: ObjectKey, reason: &str, message: impl Into<String>) -> Self {
        EventDraft {
            involved,
            event_type: EventType::Warning,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

pub fn to_any<T: Serialize>(key: &ObjectKey, object: &T) -> Result<AnyObject, RegistryError> {
    serde_json::to_value(object)
        .map(AnyObject)
        .map_err(|e| RegistryError::Invalid {
            key: key.to_string(),
            message: e.to_string(),
        })
}

fn decode<T: DeserializeOwned>(key: &ObjectKey, object: &AnyObject) -> Result<T, RegistryError> {
    object.to_typed().map_err(|e| RegistryError::Invalid {
        key: key.to_string(),
        message: e.to_string(),
    })
}

fn meta(object: &AnyObject, field: &str) -> Option<Value> {
    object.0.get("metadata").and_then(|m| m.get(field)).cloned()
}

/// A batch being put together under the write lock.
struct Staged {
    revision: u64,
    pending: Vec<(ObjectKey, Option<AnyObject>)>,
    changes: Vec<Change>,
}

impl Staged {
    fn new(revision: u64) -> Staged {
        Staged {
            revision,
            pending: Vec::new(),
            changes: Vec::new(),
        }
    }
}

/// The condition of a [`Write::Create`] or [`Write::Update`].
#[derive(Debug, Clone, Copy)]
enum Precondition {
    Absent,
    Version,
}

impl Precondition {
    fn check(
        self,
        key: &ObjectKey,
        object: &AnyObject,
        existing: Option<&AnyObject>,
    ) -> Result<(), RegistryError> {
        let conflict = |conflict| RegistryError::Conflict {
            key: key.to_string(),
            conflict,
        };
        match (self, existing) {
            (Precondition::Absent, None) => Ok(()),
            (Precondition::Absent, Some(_)) => Err(conflict(Conflict::AlreadyExists)),
            (Precondition::Version, None) => Err(conflict(Conflict::Gone)),
            (Precondition::Version, Some(existing)) => {
                let Some(read) = resource_version(object) else {
                    return Err(RegistryError::Invalid {
                        key: key.to_string(),
                        message: "an update must carry the metadata.resourceVersion it was read at"
                            .into(),
                    });
                };
                if Some(read) == resource_version(existing) {
                    Ok(())
                } else {
                    Err(conflict(Conflict::Modified))
                }
            }
        }
    }
}

/// `metadata.resourceVersion` as a number (clients may send it as a string, as Kubernetes does).
fn resource_version(object: &AnyObject) -> Option<u64> {
    match meta(object, "resourceVersion")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn set_meta(object: &mut AnyObject, field: &str, value: Value) {
    if let Some(m) = object.0.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.insert(field.to_string(), value);
    }
}

/// Fills the system-owned metadata of `object` from `existing` (or fresh, when it is new).
/// Returns false when the write would change nothing.
fn stamp(object: &mut AnyObject, existing: Option<&AnyObject>) -> bool {
    match existing {
        None => {
            let uid = hex::encode(rand::random::<[u8; 8]>());
            set_meta(object, "uid", Value::from(uid));
            set_meta(
                object,
                "creationTimestamp",
                serde_json::to_value(Utc::now()).unwrap_or_default(),
            );
            set_meta(object, "generation", Value::from(1));
            true
        }
        Some(existing) => {
            for field in ["uid", "creationTimestamp", "resourceVersion"] {
                match meta(existing, field) {
                    Some(v) => set_meta(object, field, v),
                    None => {
                        if let Some(m) =
                            object.0.get_mut("metadata").and_then(|m| m.as_object_mut())
                        {
                            m.remove(field);
                        }
                    }
                }
            }
            let generation = meta(existing, "generation")
                .and_then(|g| g.as_u64())
                .unwrap_or(1);
            let spec_changed = object.0.get("spec") != existing.0.get("spec");
            set_meta(
                object,
                "generation",
                Value::from(generation + u64::from(spec_changed)),
            );
            object.0 != existing.0
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::SledStore;
    use serde_json::json;

    /// A registry on a sled store in a fresh temporary directory (kept alive by the first value).
    pub(crate) fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        (dir, Registry::new(Arc::new(store)).unwrap())
    }

    fn service(selector: &str) -> AnyObject {
        AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "default"}, "spec": {"selector": {"app": selector}}}))
    }

    #[test]
    fn concurrent_writers_share_flushes_and_watchers_see_every_change_in_order() {
        use futures::{FutureExt, StreamExt};
        let (_dir, store, reg) = faulty();
        store.slow.store(true, Ordering::SeqCst);
        // The first flush stalls until every writer has applied its first commit, so those
        // writers are sure to meet at the flush (however busy the machine is).
        store.stalled.store(true, Ordering::SeqCst);
        let (threads, per_thread) = (8u64, 20u64);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        let mut object = service("a");
                        object.0["metadata"]["name"] = json!(format!("s-{t}-{i}"));
                        let changes = reg.commit(vec![Write::Put(object)]).unwrap();
                        let rev = changes[0].revision;
                        // Published (and so durable) by the time commit returns.
                        let mut stream = Box::pin(reg.hub().watch(None, rev - 1).unwrap());
                        let first = stream.next().now_or_never().flatten();
                        assert_eq!(first.map(|c| c.revision), Some(rev));
                    }
                })
            })
            .collect();
        let started = std::time::Instant::now();
        while reg.revision().unwrap() < threads {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        store.stalled.store(false, Ordering::SeqCst);
        for handle in handles {
            handle.join().unwrap();
        }
        let total = threads * per_thread;
        let all: Vec<u64> =
            futures::executor::block_on_stream(Box::pin(reg.hub().watch(None, 0).unwrap()))
                .take(total as usize)
                .map(|c| c.revision)
                .collect();
        assert_eq!(all, (1..=total).collect::<Vec<_>>());
        let flushes = store.flushes.load(Ordering::SeqCst);
        // The stalled first flush covers one commit and the next one the other seven: at least
        // six commits shared a flush (on an idle machine, most of them do).
        assert!(
            flushes <= total - 6,
            "{flushes} flushes for {total} commits"
        );
    }

    /// A store whose flushes are counted and can be made slow, to fail, or to stall until
    /// released.
    struct FaultyFlush {
        inner: SledStore,
        flushes: AtomicU64,
        /// Each flush takes 5 ms more, so concurrent writers can share one.
        slow: std::sync::atomic::AtomicBool,
        fail: std::sync::atomic::AtomicBool,
        /// While true, a flush waits (polling) before it goes to disk.
        stalled: std::sync::atomic::AtomicBool,
        flushing: std::sync::atomic::AtomicBool,
    }

    impl Store for FaultyFlush {
        fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError> {
            self.inner.get(key)
        }
        fn list(
            &self,
            kind: Kind,
            namespace: Option<&str>,
        ) -> Result<(Vec<AnyObject>, u64), StoreError> {
            self.inner.list(kind, namespace)
        }
        fn revision(&self) -> Result<u64, StoreError> {
            self.inner.revision()
        }
        fn apply(
            &self,
            revision: u64,
            writes: &[(ObjectKey, Option<AnyObject>)],
        ) -> Result<(), StoreError> {
            self.inner.apply(revision, writes)
        }
        fn flush(&self) -> Result<(), StoreError> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            self.flushing.store(true, Ordering::SeqCst);
            while self.stalled.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.flushing.store(false, Ordering::SeqCst);
            if self.slow.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Sled(sled::Error::Io(std::io::Error::other(
                    "disk full (test)",
                ))));
            }
            self.inner.flush()
        }
    }

    fn faulty() -> (tempfile::TempDir, Arc<FaultyFlush>, Arc<Registry>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FaultyFlush {
            inner: SledStore::open(dir.path()).unwrap(),
            flushes: AtomicU64::new(0),
            slow: Default::default(),
            fail: Default::default(),
            stalled: Default::default(),
            flushing: Default::default(),
        });
        let reg = Arc::new(Registry::new(store.clone()).unwrap());
        (dir, store, reg)
    }

    /// Revisions a watcher from revision 0 can read right now, without waiting.
    fn visible(
        stream: &mut (impl futures::Stream<Item = Arc<crate::watch_hub::Published>> + Unpin),
    ) -> Vec<u64> {
        use futures::{FutureExt, StreamExt};
        let mut seen = Vec::new();
        while let Some(Some(change)) = stream.next().now_or_never() {
            seen.push(change.revision);
        }
        seen
    }

    #[test]
    fn watchers_see_a_write_only_once_its_flush_is_done() {
        let (_d, store, reg) = faulty();
        let mut watch = Box::pin(reg.hub().watch(None, 0).unwrap());
        store.stalled.store(true, Ordering::SeqCst);
        let writer = {
            let reg = reg.clone();
            std::thread::spawn(move || reg.commit(vec![Write::Put(service("a"))]))
        };
        let started = std::time::Instant::now();
        while !store.flushing.load(Ordering::SeqCst) {
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Applied (readers of the store see it) but not durable: no watcher may see it yet.
        assert!(reg
            .get(&ObjectKey::new(Kind::Service, "default", "s"))
            .unwrap()
            .is_some());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!writer.is_finished(), "acknowledged before its flush");
        assert_eq!(visible(&mut watch), Vec::<u64>::new());
        store.stalled.store(false, Ordering::SeqCst);
        let changes = writer.join().unwrap().unwrap();
        assert_eq!(changes[0].revision, 1);
        assert_eq!(visible(&mut watch), vec![1]);
    }

    #[test]
    fn a_write_whose_flush_fails_is_refused_and_not_published_until_a_flush_succeeds() {
        let (_d, store, reg) = faulty();
        let mut watch = Box::pin(reg.hub().watch(None, 0).unwrap());
        store.fail.store(true, Ordering::SeqCst);
        let err = reg.commit(vec![Write::Put(service("a"))]).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(visible(&mut watch), Vec::<u64>::new());
        store.fail.store(false, Ordering::SeqCst);
        let mut other = service("b");
        other.0["metadata"]["name"] = json!("t");
        let changes = reg.commit(vec![Write::Put(other)]).unwrap();
        assert_eq!(changes[0].revision, 2);
        // The failed batch may yet persist (it stayed applied); once a flush covers it, watchers
        // see both, in revision order.
        assert_eq!(visible(&mut watch), vec![1, 2]);
    }

    #[test]
    fn updates_carry_the_version_they_read_and_creates_refuse_a_taken_name() {
        let (_d, reg) = registry();
        let created = reg.commit(vec![Write::Create(service("a"))]).unwrap();
        let read = created[0].object.clone();
        let err = reg.commit(vec![Write::Create(service("b"))]).unwrap_err();
        assert!(
            matches!(
                err,
                RegistryError::Conflict {
                    conflict: Conflict::AlreadyExists,
                    ..
                }
            ),
            "{err}"
        );
        // Someone else changes it; an update computed from the old read is refused.
        reg.commit(vec![Write::Put(service("c"))]).unwrap();
        let mut stale = read.clone();
        stale.0["spec"]["selector"]["app"] = json!("d");
        let err = reg.commit(vec![Write::Update(stale)]).unwrap_err();
        assert!(
            matches!(
                err,
                RegistryError::Conflict {
                    conflict: Conflict::Modified,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "services/default/s: the object has been modified; read it again"
        );
        // Read again, update: accepted.
        let key = ObjectKey::new(Kind::Service, "default", "s");
        let mut fresh = reg.get(&key).unwrap().unwrap();
        fresh.0["spec"]["selector"]["app"] = json!("d");
        reg.commit(vec![Write::Update(fresh.clone())]).unwrap();
        // An update without a version is refused, and one of a deleted object says it is gone.
        let mut unversioned = fresh.clone();
        unversioned.0["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert!(matches!(
            reg.commit(vec![Write::Update(unversioned)]).unwrap_err(),
            RegistryError::Invalid { .. }
        ));
        let current = reg.get(&key).unwrap().unwrap();
        reg.commit(vec![Write::Delete(key.clone())]).unwrap();
        assert!(matches!(
            reg.commit(vec![Write::Update(current)]).unwrap_err(),
            RegistryError::Conflict {
                conflict: Conflict::Gone,
                ..
            }
        ));
        assert!(reg.get(&key).unwrap().is_none());
    }

    #[test]
    fn a_refused_group_leaves_the_other_groups_to_land() {
        let (_d, reg) = registry();
        reg.commit(vec![Write::Put(service("a"))]).unwrap();
        let mut other = service("a");
        other.0["metadata"]["name"] = json!("t");
        let mut third = service("a");
        third.0["metadata"]["name"] = json!("u");
        let outcome = reg
            .commit_groups(vec![
                vec![Write::Create(other.clone())],
                // Refused as a whole: its first write would have landed alone.
                vec![Write::Create(third), Write::Create(service("x"))],
            ])
            .unwrap();
        assert_eq!(outcome.changes.len(), 1);
        assert!(outcome.was_refused(1) && !outcome.was_refused(0));
        assert!(reg
            .get(&ObjectKey::new(Kind::Service, "default", "u"))
            .unwrap()
            .is_none());
        assert!(reg
            .get(&ObjectKey::new(Kind::Service, "default", "t"))
            .unwrap()
            .is_some());
        assert_eq!(reg.revision().unwrap(), 2);
    }

    #[test]
    fn writes_that_change_nothing_are_dropped() {
        let (_d, reg) = registry();
        let first = reg.commit(vec![Write::Put(service("a"))]).unwrap();
        assert_eq!(first.len(), 1);
        assert!(first[0].created);
        assert!(reg
            .commit(vec![Write::Put(service("a"))])
            .unwrap()
            .is_empty());
        let second = reg.commit(vec![Write::Put(service("b"))]).unwrap();
        assert_eq!(second[0].revision, 2);
        assert_eq!(second[0].object.0["metadata"]["generation"], 2);
        assert_eq!(
            second[0].object.0["metadata"]["uid"],
            first[0].object.0["metadata"]["uid"]
        );
    }

    #[test]
    fn delete_bumps_revision_and_removes() {
        let (_d, reg) = registry();
        reg.commit(vec![Write::Put(service("a"))]).unwrap();
        let key = ObjectKey::new(Kind::Service, "default", "s");
        let del = reg.commit(vec![Write::Delete(key.clone())]).unwrap();
        assert!(del[0].deleted);
        assert_eq!(reg.get(&key).unwrap(), None);
        assert_eq!(reg.revision().unwrap(), 2);
        assert!(reg.commit(vec![Write::Delete(key)]).unwrap().is_empty());
    }
}
