//! What only a store shared by several API servers has: a change feed from a revision that says
//! when its history was compacted, and registries (servers) that see each other's writes and
//! never overwrite them.

use crate::contract::{key, next_change, service};
use crate::{etcd, etcd_store};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmpod_api::{AnyObject, Kind, ObjectKey};
use wasmpod_control_plane::registry::{Conflict, Registry, RegistryError, Write};
use wasmpod_control_plane::store::{
    ChangeType, Compare, Delegate, EtcdStore, FeedItem, FeedSink, Store, StoreError, TxnOutcome,
};

fn committed(outcome: TxnOutcome) -> u64 {
    match outcome {
        TxnOutcome::Committed { revision } => revision,
        TxnOutcome::CompareFailed => panic!("the txn's compares failed"),
        TxnOutcome::Fenced => panic!("the txn was fenced off"),
    }
}

#[test]
fn the_feed_delivers_batches_from_a_revision_then_a_reset_past_compaction() {
    let (_prefix, store) = etcd_store();
    let a = service("default", "a", "x");
    let first = committed(
        store
            .txn(&[], &[(key("default", "a"), Some(a))])
            .expect("txn"),
    );
    let second = committed(
        store
            .txn(
                &[],
                &[
                    (key("default", "a"), None),
                    (key("default", "b"), Some(service("default", "b", "y"))),
                ],
            )
            .expect("txn"),
    );
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let sink: FeedSink = Box::new(move |item| {
        let _ = tx.lock().map(|tx| tx.send(item));
    });
    assert!(store.follow(first - 1, sink).expect("follow"));
    let item = |rx: &mpsc::Receiver<FeedItem>| {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a feed item")
    };
    match item(&rx) {
        FeedItem::Batch { revision, events } => {
            assert_eq!(revision, first);
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].change, ChangeType::Added);
        }
        other => panic!("{other:?}"),
    }
    match item(&rx) {
        FeedItem::Batch { revision, events } => {
            assert_eq!(revision, second);
            let mut summary: Vec<(String, ChangeType)> = events
                .iter()
                .map(|e| (e.key.name.clone(), e.change))
                .collect();
            summary.sort_by(|x, y| x.0.cmp(&y.0));
            assert_eq!(
                summary,
                vec![
                    ("a".to_string(), ChangeType::Deleted),
                    ("b".to_string(), ChangeType::Added)
                ]
            );
            // A delete carries the object as it was, at the delete's revision.
            let deleted = events.iter().find(|e| e.key.name == "a").expect("a");
            assert_eq!(deleted.object.0["spec"]["selector"]["app"], "x");
            assert_eq!(
                wasmpod_control_plane::store::resource_version(&deleted.object),
                Some(second)
            );
        }
        other => panic!("{other:?}"),
    }
    // History before `second` compacted away: a feed from before it resets to a current revision.
    store.compact(second).expect("compact");
    let (tx, rx2) = mpsc::channel();
    let tx = Mutex::new(tx);
    assert!(store
        .follow(
            first - 1,
            Box::new(move |item| {
                let _ = tx.lock().map(|tx| tx.send(item));
            })
        )
        .expect("follow"));
    match item(&rx2) {
        FeedItem::Reset { revision } => assert!(revision >= second),
        other => panic!("expected a reset, got {other:?}"),
    }
}

/// Two registries on one prefix: two API servers of one cluster.
fn two_servers() -> (Arc<Registry>, Arc<Registry>, String) {
    let (prefix, a) = etcd_store();
    let b = EtcdStore::connect(&etcd().endpoints(), &prefix).expect("connect");
    (
        Arc::new(Registry::new(Arc::new(a)).expect("registry a")),
        Arc::new(Registry::new(Arc::new(b)).expect("registry b")),
        prefix,
    )
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_servers_see_each_others_writes_in_their_watches_and_caches() {
    let (a, b, _prefix) = two_servers();
    // b's cache is filled before a writes; the feed must keep it current.
    assert!(b
        .list_shared::<wasmpod_api::Service>(Kind::Service, None)
        .expect("list")
        .is_empty());
    let mut b_watch = Box::pin(b.hub().watch(None, b.hub().revision()).expect("watch"));
    let written = a
        .commit(vec![Write::Put(service("default", "s", "x"))])
        .expect("commit");
    let seen = next_change(&mut b_watch);
    assert_eq!(
        (seen.revision, seen.key.name.as_str(), seen.change),
        (written[0].revision, "s", ChangeType::Added)
    );
    wait_until("b's cache has a's write", || {
        b.list_shared::<wasmpod_api::Service>(Kind::Service, None)
            .expect("list")
            .len()
            == 1
    });
    a.commit(vec![Write::Delete(key("default", "s"))])
        .expect("delete");
    assert_eq!(next_change(&mut b_watch).change, ChangeType::Deleted);
    wait_until("b's cache drops a's delete", || {
        b.list_shared::<wasmpod_api::Service>(Kind::Service, None)
            .expect("list")
            .is_empty()
    });
}

#[test]
fn an_update_computed_before_the_other_servers_write_is_a_conflict() {
    let (a, b, _prefix) = two_servers();
    a.commit(vec![Write::Put(service("default", "s", "x"))])
        .expect("commit");
    let read_by_b = b.get(&key("default", "s")).expect("get").expect("stored");
    a.commit(vec![Write::Put(service("default", "s", "y"))])
        .expect("commit");
    let mut stale = read_by_b;
    stale.0["spec"]["selector"]["app"] = serde_json::json!("from-b");
    match b.commit(vec![Write::Update(stale)]) {
        Err(RegistryError::Conflict {
            conflict: Conflict::Modified,
            ..
        }) => {}
        other => panic!("expected Conflict::Modified, got {other:?}"),
    }
    let stored = a.get(&key("default", "s")).expect("get").expect("stored");
    assert_eq!(stored.0["spec"]["selector"]["app"], "y");
}

/// A store that lets the other server write once, between this server's reads and its txn:
/// the race two API servers run, made certain.
struct RaceOnce {
    inner: EtcdStore,
    other: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Delegate for RaceOnce {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }
    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError> {
        let other = self.other.lock().ok().and_then(|mut o| o.take());
        if let Some(other) = other {
            other();
        }
        self.inner.txn(compares, writes)
    }
}

/// Server a, and server b whose first txn loses a race to `other(a)`.
fn racing(other: impl FnOnce(&Registry) + Send + 'static) -> (Arc<Registry>, Arc<Registry>) {
    let (prefix, a) = etcd_store();
    let a = Arc::new(Registry::new(Arc::new(a)).expect("registry a"));
    let for_race = a.clone();
    let b = RaceOnce {
        inner: EtcdStore::connect(&etcd().endpoints(), &prefix).expect("connect"),
        other: Mutex::new(Some(Box::new(move || other(&for_race)))),
    };
    let b = Arc::new(Registry::new(Arc::new(b)).expect("registry b"));
    (a, b)
}

#[test]
fn a_put_that_loses_a_race_is_staged_again_and_lands() {
    let (a, b) = racing(|a| {
        a.commit(vec![Write::Put(service("default", "s", "from-a"))])
            .expect("a's write");
    });
    let written = b
        .commit(vec![Write::Put(service("default", "s", "from-b"))])
        .expect("b's put goes through on its second try");
    // Staged again from a's object: an update of it, not a create.
    assert_eq!(written[0].change, ChangeType::Modified);
    let stored = a.get(&key("default", "s")).expect("get").expect("stored");
    assert_eq!(stored.0["spec"]["selector"]["app"], "from-b");
    assert_eq!(
        wasmpod_control_plane::store::resource_version(&stored),
        Some(written[0].revision)
    );
}

#[test]
fn a_create_that_loses_a_race_is_already_exists_and_other_groups_land() {
    let (a, b) = racing(|a| {
        a.commit(vec![Write::Create(service("default", "taken", "a"))])
            .expect("a's create");
    });
    let outcome = b
        .commit_groups(vec![
            vec![Write::Create(service("default", "taken", "b"))],
            vec![Write::Create(service("default", "free", "b"))],
        ])
        .expect("commit groups");
    assert!(outcome.was_refused(0) && !outcome.was_refused(1));
    match &outcome.refused[0].error {
        RegistryError::Conflict {
            conflict: Conflict::AlreadyExists,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.get(&key("default", "taken"))
            .expect("get")
            .expect("a's")
            .0["spec"]["selector"]["app"],
        "a"
    );
    assert!(a.get(&key("default", "free")).expect("get").is_some());
}

#[test]
fn modify_reads_again_after_another_server_wrote() {
    let (a, b) = racing(|a| {
        a.modify::<serde_json::Value, _>(&key("default", "s"), |s| {
            s["spec"]["selector"]["extra"] = serde_json::json!("from-a");
            true
        })
        .expect("a's modify");
    });
    a.commit(vec![Write::Put(service("default", "s", "x"))])
        .expect("commit");
    let mut calls = 0;
    b.modify::<serde_json::Value, _>(&key("default", "s"), |s| {
        calls += 1;
        s["spec"]["selector"]["app"] = serde_json::json!("from-b");
        true
    })
    .expect("b's modify");
    assert_eq!(calls, 2, "b's change was computed again from a's write");
    let stored = a.get(&key("default", "s")).expect("get").expect("stored");
    assert_eq!(stored.0["spec"]["selector"]["app"], "from-b");
    assert_eq!(
        stored.0["spec"]["selector"]["extra"], "from-a",
        "a's write kept"
    );
}

#[test]
fn many_groups_land_in_batches_that_fit_etcds_txn_limit_and_refusals_keep_their_index() {
    let (a, _b, _prefix) = two_servers();
    a.commit(vec![Write::Put(service("default", "s-250", "first"))])
        .expect("commit");
    // 300 groups of one write: more than etcd's default 128 operations per transaction.
    let groups: Vec<Vec<Write>> = (0..300)
        .map(|i| vec![Write::Create(service("default", &format!("s-{i}"), "x"))])
        .collect();
    let outcome = a.commit_groups(groups).expect("commit groups");
    assert_eq!(outcome.changes.len(), 299);
    assert_eq!(outcome.refused.len(), 1);
    assert!(outcome.was_refused(250), "{:?}", outcome.refused);
    assert_eq!(a.list(Kind::Service, None).expect("list").0.len(), 300);
}

#[test]
fn a_prefix_never_covers_another_clusters_keys() {
    let base = crate::fresh_prefix();
    let base = base.trim_end_matches('/');
    let short = EtcdStore::connect(&etcd().endpoints(), base).expect("connect");
    let long = EtcdStore::connect(&etcd().endpoints(), &format!("{base}x")).expect("connect");
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let from = short.revision().expect("revision");
    assert!(short
        .follow(
            from,
            Box::new(move |item| {
                let _ = tx.lock().map(|tx| tx.send(item));
            })
        )
        .expect("follow"));
    let write = |store: &EtcdStore| {
        committed(
            store
                .txn(
                    &[],
                    &[(key("default", "s"), Some(service("default", "s", "x")))],
                )
                .expect("txn"),
        )
    };
    write(&long);
    let own = write(&short);
    // The other cluster's write is not in this cluster's feed (nor its lists).
    match rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a feed item")
    {
        FeedItem::Batch { revision, .. } => assert_eq!(revision, own),
        other => panic!("{other:?}"),
    }
    assert_eq!(short.list(Kind::Service, None).expect("list").0.len(), 1);
}

#[test]
fn a_three_member_etcd_keeps_taking_writes_when_one_member_is_killed() {
    let mut cluster = wasmpod_tests::etcd::Etcd::start(3);
    let store = EtcdStore::connect(&cluster.endpoints(), "/three/").expect("connect");
    let registry = Registry::new(Arc::new(store)).expect("registry");
    registry
        .commit(vec![Write::Put(service("default", "before", "x"))])
        .expect("commit");
    cluster.kill9(0);
    // The client fails over to the members left (a quorum of two).
    let started = Instant::now();
    let after = loop {
        match registry.commit(vec![Write::Put(service("default", "after", "x"))]) {
            Ok(changes) => break changes,
            Err(error) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "no write within 20 s of losing a member: {error}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(after.len(), 1);
    cluster.restart(0);
    assert_eq!(registry.list(Kind::Service, None).expect("list").0.len(), 2);
}
