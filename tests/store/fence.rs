//! The leader fence on etcd ([`Compare::Leader`]): a batch that states a term lands only while
//! the election key still has that create revision; when it does not (the key is gone, or was
//! taken again at another revision) the batch is `Fenced`, never `CompareFailed` (which would be
//! staged again), and writes nothing. Any key serves as the election key here: a reserved record,
//! whose create revision is its first version.

use crate::contract::{key, service};
use crate::etcd_store;
use wasmpod_api::Kind;
use wasmpod_control_plane::store::{Compare, EtcdStore, Fence, SealedSecrets, Store, TxnOutcome};

/// A key that exists, as a fence whose term is its create revision.
fn held_key(store: &EtcdStore, prefix: &str) -> Fence {
    assert!(store
        .put_record("election-test", b"leader", None)
        .expect("put record"));
    let record = store
        .get_record("election-test")
        .expect("get record")
        .expect("stored");
    Fence {
        key: format!("{prefix}_records/election-test"),
        term: record.version as i64,
    }
}

#[test]
fn a_fenced_txn_lands_only_while_its_term_holds() {
    let (prefix, store) = etcd_store();
    let fence = held_key(&store, &prefix);
    let a = service("default", "a", "x");
    let outcome = store
        .txn(
            &[
                Compare::Absent(key("default", "a")),
                Compare::Leader(fence.clone()),
            ],
            &[(key("default", "a"), Some(a.clone()))],
        )
        .expect("txn");
    assert!(
        matches!(outcome, TxnOutcome::Committed { .. }),
        "{outcome:?}"
    );
    // The key written again keeps its create revision: the same term still holds.
    let version = store
        .get_record("election-test")
        .expect("get")
        .expect("stored")
        .version;
    assert!(store
        .put_record("election-test", b"leader", Some(version))
        .expect("put record"));
    let b = service("default", "b", "y");
    let outcome = store
        .txn(
            &[Compare::Leader(fence.clone())],
            &[(key("default", "b"), Some(b.clone()))],
        )
        .expect("txn");
    assert!(
        matches!(outcome, TxnOutcome::Committed { .. }),
        "{outcome:?}"
    );
    // The term holds, an object compare does not: an ordinary failed compare.
    let outcome = store
        .txn(
            &[
                Compare::Absent(key("default", "a")),
                Compare::Leader(fence.clone()),
            ],
            &[(key("default", "a"), Some(b))],
        )
        .expect("txn");
    assert_eq!(outcome, TxnOutcome::CompareFailed);
}

#[test]
fn a_txn_of_another_term_or_of_a_gone_key_is_fenced_and_writes_nothing() {
    let (prefix, store) = etcd_store();
    let fence = held_key(&store, &prefix);
    let other_term = Fence {
        term: fence.term + 1000,
        ..fence.clone()
    };
    let gone = Fence {
        key: format!("{prefix}_records/never-taken"),
        term: fence.term,
    };
    for stale in [other_term, gone] {
        // Alone, and with object compares that hold or do not: the fence decides.
        for compares in [
            vec![Compare::Leader(stale.clone())],
            vec![
                Compare::Absent(key("default", "a")),
                Compare::Leader(stale.clone()),
            ],
            vec![
                Compare::Leader(stale.clone()),
                Compare::ModRevision(key("default", "a"), 1),
            ],
        ] {
            let outcome = store
                .txn(
                    &compares,
                    &[(key("default", "a"), Some(service("default", "a", "x")))],
                )
                .expect("txn");
            assert_eq!(outcome, TxnOutcome::Fenced, "{stale} {compares:?}");
        }
    }
    assert_eq!(store.get(&key("default", "a")).expect("get"), None);
    assert!(store.list(Kind::Service, None).expect("list").0.is_empty());
}

#[test]
fn the_secrets_seal_passes_the_fence_through() {
    let (prefix, store) = etcd_store();
    let fence = held_key(&store, &prefix);
    let sealed = SealedSecrets::new(store, &[3; 32]);
    let stale = Fence {
        term: fence.term + 1,
        ..fence
    };
    let outcome = sealed
        .txn(
            &[Compare::Leader(stale)],
            &[(key("default", "a"), Some(service("default", "a", "x")))],
        )
        .expect("txn");
    assert_eq!(outcome, TxnOutcome::Fenced);
    assert_eq!(sealed.get(&key("default", "a")).expect("get"), None);
}
