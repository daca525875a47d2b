//! What every store promises, written once: each function takes a fresh, empty store.

use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use wasmpod_api::{AnyObject, Kind, ObjectKey};
use wasmpod_control_plane::registry::{Conflict, Registry, RegistryError, Write};
use wasmpod_control_plane::store::{resource_version, Compare, SealedSecrets, Store, TxnOutcome};
use wasmpod_control_plane::watch_hub::ChangeType;

pub fn service(namespace: &str, name: &str, app: &str) -> AnyObject {
    AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": app}}}))
}

pub fn key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(Kind::Service, namespace, name)
}

fn put(object: &AnyObject) -> (ObjectKey, Option<AnyObject>) {
    (object.key().expect("key"), Some(object.clone()))
}

fn committed(outcome: TxnOutcome) -> u64 {
    match outcome {
        TxnOutcome::Committed { revision } => revision,
        TxnOutcome::CompareFailed => panic!("the txn's compares failed"),
        TxnOutcome::Fenced => panic!("the txn was fenced off"),
    }
}

fn app(object: &AnyObject) -> &str {
    object.0["spec"]["selector"]["app"]
        .as_str()
        .unwrap_or_default()
}

pub fn get_list_and_revision<S: Store>(store: S) {
    let start = store.revision().expect("revision");
    assert_eq!(store.get(&key("default", "a")).expect("get"), None);
    let (a, b, c) = (
        service("default", "a", "x"),
        service("default", "b", "y"),
        service("shop", "c", "z"),
    );
    let revision = committed(store.txn(&[], &[put(&a), put(&b), put(&c)]).expect("txn"));
    assert!(revision > start, "{revision} > {start}");
    assert!(store.revision().expect("revision") >= revision);
    let read = store
        .get(&key("default", "a"))
        .expect("get")
        .expect("stored");
    assert_eq!(resource_version(&read), Some(revision));
    assert_eq!(app(&read), "x");
    let many = store
        .get_many(&[
            key("shop", "c"),
            key("default", "missing"),
            key("default", "a"),
        ])
        .expect("get many");
    let names: Vec<Option<&str>> = many.iter().map(|o| o.as_ref().map(|o| o.name())).collect();
    assert_eq!(names, [Some("c"), None, Some("a")]);
    assert_eq!(
        resource_version(many[2].as_ref().expect("a")),
        Some(revision)
    );
    let (all, at) = store.list(Kind::Service, None).expect("list");
    assert!(at >= revision);
    assert_eq!(all.len(), 3);
    let (default, _) = store.list(Kind::Service, Some("default")).expect("list");
    let mut names: Vec<&str> = default.iter().map(|o| o.name()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    assert!(store.list(Kind::Pod, None).expect("list").0.is_empty());
}

pub fn compares_on_absence_and_mod_revision<S: Store>(store: S) {
    let a = service("default", "a", "x");
    let first = committed(
        store
            .txn(&[Compare::Absent(key("default", "a"))], &[put(&a)])
            .expect("txn"),
    );
    // Absent no more.
    assert_eq!(
        store
            .txn(&[Compare::Absent(key("default", "a"))], &[put(&a)])
            .expect("txn"),
        TxnOutcome::CompareFailed
    );
    // At the revision it was written at: the write lands.
    let changed = service("default", "a", "y");
    let second = committed(
        store
            .txn(
                &[Compare::ModRevision(key("default", "a"), first)],
                &[put(&changed)],
            )
            .expect("txn"),
    );
    // A stale revision: refused.
    assert_eq!(
        store
            .txn(
                &[Compare::ModRevision(key("default", "a"), first)],
                &[put(&service("default", "a", "stale"))],
            )
            .expect("txn"),
        TxnOutcome::CompareFailed
    );
    let read = store
        .get(&key("default", "a"))
        .expect("get")
        .expect("stored");
    assert_eq!((app(&read), resource_version(&read)), ("y", Some(second)));
    // A delete guarded by the current revision.
    committed(
        store
            .txn(
                &[Compare::ModRevision(key("default", "a"), second)],
                &[(key("default", "a"), None)],
            )
            .expect("txn"),
    );
    assert_eq!(store.get(&key("default", "a")).expect("get"), None);
    // A key that never existed has no mod revision to match.
    assert_eq!(
        store
            .txn(
                &[Compare::ModRevision(key("default", "never"), second)],
                &[put(&service("default", "never", "x"))],
            )
            .expect("txn"),
        TxnOutcome::CompareFailed
    );
}

pub fn a_failed_txn_writes_nothing<S: Store>(store: S) {
    let a = service("default", "a", "x");
    let at = committed(store.txn(&[], &[put(&a)]).expect("txn"));
    // The first compare holds, the second does not: none of the three writes may land.
    let outcome = store
        .txn(
            &[
                Compare::Absent(key("default", "new")),
                Compare::ModRevision(key("default", "a"), at + 1000),
            ],
            &[
                put(&service("default", "new", "x")),
                put(&service("default", "a", "changed")),
                (key("default", "b"), None),
            ],
        )
        .expect("txn");
    assert_eq!(outcome, TxnOutcome::CompareFailed);
    assert_eq!(store.get(&key("default", "new")).expect("get"), None);
    let read = store.get(&key("default", "a")).expect("get").expect("kept");
    assert_eq!((app(&read), resource_version(&read)), ("x", Some(at)));
    // (The store's revision is not compared: on a shared etcd other tests move it.)
    assert_eq!(store.list(Kind::Service, None).expect("list").0.len(), 1);
}

pub fn revisions_increase_and_a_batch_shares_one<S: Store>(store: S) {
    let mut last = store.revision().expect("revision");
    for round in 0..3 {
        let objects: Vec<AnyObject> = (0..3)
            .map(|i| service("default", &format!("s{i}"), &format!("r{round}")))
            .collect();
        let writes: Vec<_> = objects.iter().map(put).collect();
        let revision = committed(store.txn(&[], &writes).expect("txn"));
        assert!(revision > last, "{revision} after {last}");
        last = revision;
        for i in 0..3 {
            let read = store
                .get(&key("default", &format!("s{i}")))
                .expect("get")
                .expect("stored");
            assert_eq!(
                resource_version(&read),
                Some(revision),
                "one revision per batch"
            );
        }
    }
    let deleted = committed(
        store
            .txn(&[], &[(key("default", "s0"), None)])
            .expect("txn"),
    );
    assert!(deleted > last);
}

pub fn secrets_are_sealed_in_the_store<S: Store>(store: S) {
    let sealed = SealedSecrets::new(store, &[9; 32]);
    let secret_key = ObjectKey::new(Kind::Secret, "default", "token");
    let secret = AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Secret",
        "metadata": {"name": "token", "namespace": "default"},
        "data": {"token": "c3VwZXJzZWNyZXQ="}}));
    let revision = committed(
        sealed
            .txn(&[], &[(secret_key.clone(), Some(secret))])
            .expect("txn"),
    );
    let raw = sealed
        .inner()
        .get(&secret_key)
        .expect("get")
        .expect("stored");
    assert!(
        raw.0.get("data").is_none() && raw.0.get("sealed").is_some(),
        "the value is sealed in the store: {raw:?}"
    );
    assert!(!raw.0.to_string().contains("c3VwZXJzZWNyZXQ="));
    let opened = sealed.get(&secret_key).expect("get").expect("stored");
    assert_eq!(opened.0["data"]["token"], "c3VwZXJzZWNyZXQ=");
    assert_eq!(resource_version(&opened), Some(revision));
    let (listed, _) = sealed.list(Kind::Secret, None).expect("list");
    assert_eq!(listed[0].0["data"]["token"], "c3VwZXJzZWNyZXQ=");
}

/// The next change a watch stream yields, within 10 s.
pub fn next_change(
    stream: &mut (impl futures::Stream<Item = Arc<wasmpod_control_plane::watch_hub::Published>> + Unpin),
) -> Arc<wasmpod_control_plane::watch_hub::Published> {
    futures::executor::block_on(async {
        let timeout = futures_timeout(Duration::from_secs(10));
        futures::pin_mut!(timeout);
        match futures::future::select(stream.next(), timeout).await {
            futures::future::Either::Left((Some(change), _)) => change,
            futures::future::Either::Left((None, _)) => panic!("the watch ended"),
            futures::future::Either::Right(_) => panic!("no change within 10 s"),
        }
    })
}

/// A future that completes after `duration` (no runtime needed: a thread sleeps).
fn futures_timeout(duration: Duration) -> impl std::future::Future<Output = ()> {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

pub fn a_watch_from_a_revision_gets_every_later_change<S: Store>(store: S) {
    let registry = Registry::new(Arc::new(store)).expect("registry");
    let first = registry
        .commit(vec![Write::Put(service("default", "a", "x"))])
        .expect("commit");
    let from = first[0].revision;
    let mut watch = Box::pin(registry.hub().watch(None, from).expect("watch"));
    let second = registry
        .commit(vec![
            Write::Put(service("default", "a", "y")),
            Write::Put(service("default", "b", "y")),
        ])
        .expect("commit");
    let third = registry
        .commit(vec![Write::Delete(key("default", "a"))])
        .expect("commit");
    let seen: Vec<_> = (0..3).map(|_| next_change(&mut watch)).collect();
    let summary: Vec<(u64, &str, ChangeType)> = seen
        .iter()
        .map(|c| (c.revision, c.key.name.as_str(), c.change))
        .collect();
    assert_eq!(
        summary,
        vec![
            (second[0].revision, "a", ChangeType::Modified),
            (second[0].revision, "b", ChangeType::Added),
            (third[0].revision, "a", ChangeType::Deleted),
        ]
    );
    assert!(third[0].revision > second[0].revision && second[0].revision > from);
    // The watch hub has published what the commits returned, objects stamped with their revision.
    let json: serde_json::Value = serde_json::from_slice(&seen[1].json).expect("json");
    assert_eq!(json["metadata"]["resourceVersion"], second[0].revision);
    assert_eq!(registry.hub().revision(), third[0].revision);
}

pub fn a_watch_from_before_the_registry_start_is_gone<S: Store>(store: S) {
    let first = committed(
        store
            .txn(&[], &[put(&service("default", "a", "x"))])
            .expect("txn"),
    );
    committed(
        store
            .txn(&[], &[put(&service("default", "a", "y"))])
            .expect("txn"),
    );
    let registry = Registry::new(Arc::new(store)).expect("registry");
    let gone = registry.hub().watch(None, first).err().expect("gone");
    assert!(gone.oldest > first);
    assert!(registry
        .hub()
        .watch(None, registry.revision().expect("revision"))
        .is_ok());
}

pub fn registry_preconditions_hold<S: Store>(store: S) {
    let registry = Registry::new(Arc::new(store)).expect("registry");
    let created = registry
        .commit(vec![Write::Create(service("default", "a", "x"))])
        .expect("create");
    let read = created[0].object.clone();
    let conflict = |result: Result<_, RegistryError>| match result {
        Err(RegistryError::Conflict { conflict, .. }) => conflict,
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert_eq!(
        conflict(registry.commit(vec![Write::Create(service("default", "a", "y"))])),
        Conflict::AlreadyExists
    );
    registry
        .commit(vec![Write::Put(service("default", "a", "z"))])
        .expect("put");
    let mut stale = read;
    stale.0["spec"]["selector"]["app"] = json!("stale");
    assert_eq!(
        conflict(registry.commit(vec![Write::Update(stale)])),
        Conflict::Modified
    );
    let mut fresh = registry
        .get(&key("default", "a"))
        .expect("get")
        .expect("stored");
    fresh.0["spec"]["selector"]["app"] = json!("fresh");
    let updated = registry.commit(vec![Write::Update(fresh)]).expect("update");
    assert_eq!(
        resource_version(&updated[0].object),
        Some(updated[0].revision)
    );
    // A typed cache follows the commits.
    let cached = registry
        .list_shared::<wasmpod_api::Service>(Kind::Service, None)
        .expect("list");
    assert_eq!(cached[0].spec.selector["app"], "fresh");
    registry
        .commit(vec![Write::Put(service("default", "b", "x"))])
        .expect("put");
    assert_eq!(
        registry
            .list_shared::<wasmpod_api::Service>(Kind::Service, None)
            .expect("list")
            .len(),
        2,
        "a commit is in this server's caches when it returns"
    );
}
