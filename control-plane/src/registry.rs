//! The registry: the store plus what every writer needs on top of it — staging
//! ([`crate::staging`]) that validates,
//! stamps metadata, checks each write's precondition and skips writes that change nothing; one
//! conditional store transaction per batch (guarded by the mod revision of everything staging
//! read, so several API servers on one etcd never overwrite each other: a batch whose reads
//! changed is staged again from fresh reads); typed reads; read-modify-write. Events are
//! recorded by [`crate::events::Recorder`].
//!
//! Group commit (sled): a writer commits its batch under the write lock, then flushes outside
//! it, so writers arriving during one disk flush share the next one instead of queueing for one
//! each. Watchers see a change only once it is durable, in revision order. With etcd the store's
//! change feed feeds watchers and caches, and a commit returns once the feed has delivered it.
//!
//! The controllers write through a fenced handle ([`Registry::fenced`]): the same registry, whose
//! batches also state the leader term, so a deposed leader's writes are refused.
//!
//! A commit waits (for the write lock, the disk, etcd) on the calling thread: when that is a
//! tokio worker, its other tasks move to another thread meanwhile ([`off_worker`]).

use crate::ingest::Ingest;
use crate::leader::fence::TermFence;
use crate::staging::{chunks, Batch, Grouping, Staged};
use crate::store::{
    off_worker, set_resource_version, Compare, Fence, Store, StoreError, TxnOutcome,
};
use crate::watch_hub::{Change, WatchHub};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

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
    /// The blocking task running a registry call ended without an answer (it panicked, or the
    /// runtime is shutting down).
    #[error("the registry call did not finish: {0}")]
    Interrupted(#[source] tokio::task::JoinError),
    /// Other writers changed what a batch read every time it was staged.
    #[error("other writers kept changing the objects of this write ({tries} tries); try again")]
    Contended { tries: usize },
    /// A controller's write after this server stopped leading (it stalled past its lease and
    /// another server took over): refused by the store, and never worth another try.
    #[error(
        "this server no longer leads the controllers ({fence} is over): the write was refused"
    )]
    Fenced { fence: Fence },
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

/// How often a batch is staged again after another writer changed what it read, before the
/// writer gets [`RegistryError::Contended`].
const MAX_TRIES: usize = 16;
/// How long a commit on a shared store waits for its own revision to come back on the feed.
const INGEST_WAIT: Duration = Duration::from_secs(10);

/// The registry of a server: what every handle shares, and the fence of the handle's writes.
/// A clone ([`Registry::fenced`]) is cheap and shares the store, caches and locks.
pub struct Registry {
    shared: Arc<Shared>,
    /// The leader term the controllers' writes are conditional on (`None`: the API's handle, and
    /// every handle on a store without an election).
    fence: Option<Arc<TermFence>>,
}

struct Shared {
    store: Arc<dyn Store>,
    /// Whether the store has a change feed (other servers write too): then the feed, not this
    /// registry's commits, feeds the caches and the watch hub.
    followed: bool,
    /// Serialises this server's staging and commit: with sled the one writer's order is the
    /// revision order; with etcd it saves this server's writers from failing each other's compares.
    write_lock: Mutex<()>,
    /// (sled) Batches committed and not yet known durable, oldest first.
    unpublished: Mutex<VecDeque<(u64, Arc<Vec<Change>>)>>,
    /// The revision of the newest committed batch.
    applied: AtomicU64,
    /// Held while the store flushes; writers waiting here are often covered by that flush.
    flush_lock: Mutex<()>,
    /// Every revision up to this one is durable.
    flushed: AtomicU64,
    ingest: Arc<Ingest>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Result<Registry, RegistryError> {
        let revision = store.revision()?;
        let ingest = Arc::new(Ingest::new(revision));
        let feed = ingest.clone();
        let followed = store.follow(revision, Box::new(move |item| feed.feed(item)))?;
        Ok(Registry {
            shared: Arc::new(Shared {
                store,
                followed,
                write_lock: Mutex::new(()),
                unpublished: Mutex::default(),
                applied: AtomicU64::new(revision),
                flush_lock: Mutex::new(()),
                flushed: AtomicU64::new(revision),
                ingest,
            }),
            fence: None,
        })
    }

    /// A handle of this registry whose commits hold only while `fence`'s term does: the
    /// controllers' handle for one leadership term. A batch the store fences off is
    /// [`RegistryError::Fenced`], and so is every later commit of the handle, without a
    /// round trip.
    pub fn fenced(&self, fence: Arc<TermFence>) -> Registry {
        Registry {
            shared: self.shared.clone(),
            fence: Some(fence),
        }
    }

    /// Refuses a commit of a handle whose term was fenced off already.
    fn check_fence(&self) -> Result<(), RegistryError> {
        match &self.fence {
            Some(fence) if fence.is_deposed() => Err(RegistryError::Fenced {
                fence: fence.fence().clone(),
            }),
            _ => Ok(()),
        }
    }

    pub fn hub(&self) -> &WatchHub {
        &self.shared.ingest.hub
    }

    /// The store under this registry (for the reserved records: node credentials).
    pub fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    pub fn revision(&self) -> Result<u64, RegistryError> {
        Ok(self.shared.store.revision()?)
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, RegistryError> {
        Ok(self.shared.store.get(key)?)
    }

    pub fn get_typed<T: DeserializeOwned>(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<T>, RegistryError> {
        match self.shared.store.get(key)? {
            Some(object) => decode(key, &object).map(Some),
            None => Ok(None),
        }
    }

    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), RegistryError> {
        Ok(self.shared.store.list(kind, namespace)?)
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
        let cached = self
            .shared
            .ingest
            .caches
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get::<T>(kind);
        let cached = match cached {
            Some(cached) => cached,
            None => {
                // Under the caches' lock no batch is ingested between the store's list and the
                // fill: every batch ingested before is in the list, every later one is newer.
                let mut caches = self
                    .shared
                    .ingest
                    .caches
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
                match caches.get::<T>(kind) {
                    Some(cached) => cached,
                    None => {
                        let (items, revision) = self.shared.store.list(kind, None)?;
                        caches.fill::<T>(kind, items, revision)
                    }
                }
            }
        };
        Ok(cached.list_in(namespace))
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

    /// Runs `work` on tokio's blocking pool. A commit waits for a disk flush (sled) or network
    /// round trips (etcd): async code (API handlers) must not wait for it on its own thread.
    pub async fn off_thread<R, E, F>(self: &Arc<Self>, work: F) -> Result<R, E>
    where
        F: FnOnce(&Registry) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<RegistryError> + Send + 'static,
    {
        let registry = self.clone();
        tokio::task::spawn_blocking(move || work(&registry))
            .await
            .map_err(|e| E::from(RegistryError::Interrupted(e)))?
    }

    /// Commits `writes` atomically. Returns the changes made (writes that change nothing are
    /// dropped), after they are durable and visible to this server's watchers and caches.
    pub fn commit(&self, writes: Vec<Write>) -> Result<Vec<Change>, RegistryError> {
        let (changes, _) = self.commit_staged(vec![writes], Grouping::OneBatch)?;
        Ok(changes)
    }

    /// Commits independent groups of writes in one batch: each group is atomic on its own, and
    /// a group refused by a conflict leaves the others to go through (a controller's pass must not
    /// fail for every object because one changed under it). Store failures still fail the call.
    ///
    /// A store that bounds the operations of one transaction (etcd: `--max-txn-ops`) gets the
    /// groups in several batches, each group whole in one of them.
    pub fn commit_groups(&self, groups: Vec<Vec<Write>>) -> Result<GroupOutcome, RegistryError> {
        // A fenced batch carries one compare more than it has writes: the term's.
        let limit = self
            .shared
            .store
            .max_txn_ops()
            .saturating_sub(usize::from(self.fence.is_some()))
            .max(1);
        let mut outcome = GroupOutcome::default();
        let mut offset = 0;
        for chunk in chunks(groups, limit) {
            let len = chunk.len();
            let (changes, refused) = self.commit_staged(chunk, Grouping::Independent)?;
            outcome.changes.extend(changes);
            outcome.refused.extend(refused.into_iter().map(|r| Refused {
                group: r.group + offset,
                error: r.error,
            }));
            offset += len;
        }
        Ok(outcome)
    }

    /// Stages `groups` from fresh reads and commits them in one store transaction guarded by
    /// what was read; when another server changed something read in between, stages again.
    fn commit_staged(
        &self,
        groups: Vec<Vec<Write>>,
        grouping: Grouping,
    ) -> Result<(Vec<Change>, Vec<Refused>), RegistryError> {
        self.check_fence()?;
        off_worker(|| self.stage_and_commit(groups, grouping))
    }

    fn stage_and_commit(
        &self,
        groups: Vec<Vec<Write>>,
        grouping: Grouping,
    ) -> Result<(Vec<Change>, Vec<Refused>), RegistryError> {
        let mut groups = groups;
        for _ in 0..MAX_TRIES {
            // Without a feed this registry is the store's only writer: its compares cannot fail,
            // so no copy is kept for another try.
            let attempt = if self.shared.followed {
                groups.clone()
            } else {
                std::mem::take(&mut groups)
            };
            let guard = self
                .shared
                .write_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut staged = Staged::default();
            if self.shared.followed {
                // Over the network: every key of the batch in one round trip, not one each.
                staged.prefetch(&*self.shared.store, &attempt)?;
            }
            let mut refused = Vec::new();
            for (index, group) in attempt.into_iter().enumerate() {
                match staged.stage(&*self.shared.store, group) {
                    Ok(()) => {}
                    Err(error @ RegistryError::Conflict { .. })
                        if grouping == Grouping::Independent =>
                    {
                        refused.push(Refused {
                            group: index,
                            error,
                        })
                    }
                    Err(other) => return Err(other),
                }
            }
            if let Some(changes) = self.try_commit(staged, guard)? {
                return Ok((changes, refused));
            }
            if !self.shared.followed {
                break;
            }
        }
        Err(RegistryError::Contended { tries: MAX_TRIES })
    }

    /// Commits what `staged` holds if what it read is unchanged (`None`: it changed, stage
    /// again), then waits until the batch is durable and ingested. Releases `guard` once the
    /// store has the batch.
    fn try_commit(
        &self,
        staged: Staged,
        guard: std::sync::MutexGuard<'_, ()>,
    ) -> Result<Option<Vec<Change>>, RegistryError> {
        let Batch {
            mut compares,
            writes,
            mut changes,
        } = staged.finish();
        if changes.is_empty() {
            return Ok(Some(changes));
        }
        let started = std::time::Instant::now();
        if !self.shared.followed {
            // The store's only writer staged under the write lock, which it still holds: what
            // it read cannot have changed, and checking again would decode every object twice.
            compares.clear();
        }
        if let Some(fence) = &self.fence {
            compares.push(Compare::Leader(fence.fence().clone()));
        }
        let revision = match self.shared.store.txn(&compares, &writes)? {
            TxnOutcome::Committed { revision } => revision,
            TxnOutcome::Fenced => match &self.fence {
                Some(fence) => {
                    fence.depose();
                    return Err(RegistryError::Fenced {
                        fence: fence.fence().clone(),
                    });
                }
                // Only a fenced handle's batch carries a fence: a store saying otherwise
                // wrote nothing, like a failed compare.
                None => {
                    tracing::error!("the store fenced off a batch that carried no fence");
                    return Ok(None);
                }
            },
            TxnOutcome::CompareFailed => {
                tracing::debug!(
                    writes = writes.len(),
                    "another writer came first; staging again"
                );
                return Ok(None);
            }
        };
        for change in &mut changes {
            change.revision = revision;
            set_resource_version(&mut change.object, revision);
        }
        if self.shared.followed {
            drop(guard);
            if !self.shared.ingest.wait_for(revision, INGEST_WAIT) {
                tracing::warn!(
                    revision,
                    "committed, but the store's feed has not delivered it yet"
                );
            }
        } else {
            self.shared.applied.fetch_max(revision, Ordering::SeqCst);
            let queued = Arc::new(changes);
            self.shared
                .unpublished
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back((revision, queued.clone()));
            drop(guard);
            self.make_durable(revision)?;
            // Whoever ingested the batch let go of it under the queue's lock, which
            // make_durable took after: the batch is ours again, without a copy.
            changes = Arc::try_unwrap(queued).unwrap_or_else(|shared| (*shared).clone());
        }
        crate::metrics::get()
            .store_commit
            .observe(started.elapsed());
        Ok(Some(changes))
    }

    /// Makes the batch at `mine` durable, flushing the store unless a flush that began after it
    /// was committed has already done it, then ingests every durable batch in revision order.
    /// If the flush fails the caller gets the error; the batch stays committed and is published
    /// by the next flush that succeeds (like a timed-out etcd write, it may yet persist).
    fn make_durable(&self, mine: u64) -> Result<(), RegistryError> {
        {
            let _flushing = self
                .shared
                .flush_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if self.shared.flushed.load(Ordering::SeqCst) < mine {
                // Everything committed before this load is covered by the flush that follows it.
                let covered = self.shared.applied.load(Ordering::SeqCst);
                self.shared.store.flush()?;
                self.shared.flushed.fetch_max(covered, Ordering::SeqCst);
            }
        }
        let flushed = self.shared.flushed.load(Ordering::SeqCst);
        let mut unpublished = self
            .shared
            .unpublished
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Still under the queue's lock, so concurrent publishers keep revision order.
        while unpublished
            .front()
            .is_some_and(|(revision, _)| *revision <= flushed)
        {
            if let Some((revision, changes)) = unpublished.pop_front() {
                self.shared.ingest.batch(revision, &changes);
            }
        }
        Ok(())
    }

    /// Reads the object at `key` as `T`, lets `change` edit it, and writes it back if `change`
    /// says it changed, on condition that nobody wrote it in between; if somebody did, reads it
    /// again and calls `change` again.
    pub fn modify<T, F>(&self, key: &ObjectKey, change: F) -> Result<Option<T>, RegistryError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> bool,
    {
        self.check_fence()?;
        off_worker(|| self.modify_here(key, change))
    }

    fn modify_here<T, F>(&self, key: &ObjectKey, mut change: F) -> Result<Option<T>, RegistryError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(&mut T) -> bool,
    {
        for _ in 0..MAX_TRIES {
            let guard = self
                .shared
                .write_lock
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut staged = Staged::default();
            let Some(object) = staged.current(&*self.shared.store, key)? else {
                return Ok(None);
            };
            let mut typed: T = decode(key, &object)?;
            if !change(&mut typed) {
                return Ok(Some(typed));
            }
            let any = to_any(key, &typed)?;
            staged.stage(&*self.shared.store, vec![Write::Put(any)])?;
            if self.try_commit(staged, guard)?.is_some() {
                return Ok(Some(typed));
            }
        }
        Err(RegistryError::Contended { tries: MAX_TRIES })
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{ChangeType, Delegate, SledStore};
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

    impl Delegate for FaultyFlush {
        fn inner(&self) -> &dyn Store {
            &self.inner
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
        assert_eq!(first[0].change, ChangeType::Added);
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
        assert_eq!(del[0].change, ChangeType::Deleted);
        assert_eq!(reg.get(&key).unwrap(), None);
        assert_eq!(reg.revision().unwrap(), 2);
        assert!(reg.commit(vec![Write::Delete(key)]).unwrap().is_empty());
    }
}
