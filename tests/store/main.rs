//! The store contract: one set of tests, run against sled and against a real etcd (one member
//! for the whole binary, each test under its own key prefix), then what only a shared store
//! has: its change feed, compaction, two registries (two API servers) on one etcd, and the
//! leader fence on the controllers' writes.

mod contract;
mod fence;
mod shared;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use wasmpod_control_plane::store::{EtcdStore, SledStore};
use wasmpod_tests::etcd::Etcd;

/// The etcd of this test binary.
fn etcd() -> &'static Etcd {
    static ETCD: OnceLock<Etcd> = OnceLock::new();
    ETCD.get_or_init(|| Etcd::start(1))
}

/// A key prefix no other test of this run uses.
fn fresh_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/wasmpod-test-{}-{}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// An etcd store under a fresh prefix.
fn etcd_store() -> (String, EtcdStore) {
    let prefix = fresh_prefix();
    let store = EtcdStore::connect(&etcd().endpoints(), &prefix).expect("connect to etcd");
    (prefix, store)
}

/// A sled store in a fresh directory (kept while the first value lives).
fn sled_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open sled");
    (dir, store)
}

/// Runs every contract test against one backend.
macro_rules! contract_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            #[test]
            fn get_list_and_revision() {
                let (_guard, store) = $make;
                crate::contract::get_list_and_revision(store);
            }
            #[test]
            fn compares_on_absence_and_mod_revision() {
                let (_guard, store) = $make;
                crate::contract::compares_on_absence_and_mod_revision(store);
            }
            #[test]
            fn a_failed_txn_writes_nothing() {
                let (_guard, store) = $make;
                crate::contract::a_failed_txn_writes_nothing(store);
            }
            #[test]
            fn revisions_increase_and_a_batch_shares_one() {
                let (_guard, store) = $make;
                crate::contract::revisions_increase_and_a_batch_shares_one(store);
            }
            #[test]
            fn secrets_are_sealed_in_the_store() {
                let (_guard, store) = $make;
                crate::contract::secrets_are_sealed_in_the_store(store);
            }
            #[test]
            fn a_watch_from_a_revision_gets_every_later_change() {
                let (_guard, store) = $make;
                crate::contract::a_watch_from_a_revision_gets_every_later_change(store);
            }
            #[test]
            fn a_watch_from_before_the_registry_start_is_gone() {
                let (_guard, store) = $make;
                crate::contract::a_watch_from_before_the_registry_start_is_gone(store);
            }
            #[test]
            fn registry_preconditions_hold() {
                let (_guard, store) = $make;
                crate::contract::registry_preconditions_hold(store);
            }
        }
    };
}

contract_suite!(sled, crate::sled_store());
contract_suite!(etcd, crate::etcd_store());
