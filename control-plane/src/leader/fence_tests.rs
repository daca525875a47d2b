//! The fence against a real etcd: two servers' elections and registries on one etcd; the first
//! leader's controller handle writes while it leads, and nothing once the other took over.

use super::elector::{self, ElectorHandle, EtcdElectionConfig};
use super::fence::TermFence;
use super::tests::{timing, Etcd};
use super::{Leadership, ServerIdentity};
use crate::registry::{Registry, RegistryError, Write};
use crate::store::{EtcdStore, Fence, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

async fn elect(etcd: &Etcd, name: &str, shutdown: &CancellationToken) -> ElectorHandle {
    let (handle, _task) = elector::start(
        EtcdElectionConfig {
            endpoints: vec![etcd.endpoint.clone()],
            prefix: crate::DEFAULT_ETCD_PREFIX.into(),
            me: ServerIdentity {
                name: name.into(),
                url: format!("http://{name}"),
            },
            timing: timing(),
        },
        shutdown.clone(),
    )
    .await
    .expect("elector");
    handle
}

async fn term_of(handle: &ElectorHandle, within: Duration) -> i64 {
    let started = Instant::now();
    loop {
        if let Some(term) = handle.role().borrow().term() {
            return term;
        }
        assert!(
            started.elapsed() < within,
            "no leadership within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn service(name: &str) -> AnyObject {
    AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"}, "spec": {"selector": {"app": name}}}))
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Kind::Service, "default", name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_controller_writes_are_refused_and_the_apis_are_not() {
    let etcd = Etcd::start().await;
    let endpoint = format!("http://{}", etcd.endpoint);
    let store = tokio::task::spawn_blocking(move || {
        EtcdStore::connect(&[endpoint], crate::DEFAULT_ETCD_PREFIX)
    })
    .await
    .expect("join")
    .expect("etcd store");
    let store: Arc<dyn Store> = Arc::new(store);
    let registry = Arc::new(Registry::new(store).expect("registry"));

    let a_shutdown = CancellationToken::new();
    let a = elect(&etcd, "a", &a_shutdown).await;
    let term = term_of(&a, Duration::from_secs(5)).await;
    let leadership = Leadership::Etcd(Box::new(a.clone()));
    let fence = leadership.fence(term).expect("etcd fences");
    assert_eq!(
        fence,
        Fence {
            key: format!("{}leader/controllers", crate::DEFAULT_ETCD_PREFIX),
            term
        }
    );
    let gate_token = CancellationToken::new();
    let term_fence = Arc::new(TermFence::new(fence.clone(), &gate_token));
    let controllers = Arc::new(registry.fenced(term_fence.clone()));

    // While a leads, its controllers' writes land.
    let landed = controllers
        .off_thread(|r| r.commit(vec![Write::Create(service("while-leading"))]))
        .await;
    assert!(landed.is_ok(), "{landed:?}");

    // etcd's default --max-txn-ops (128; this etcd has it) counts compares too: the fenced
    // batches of 128 creates (128 compares on absence, and the term's) still fit.
    let groups = (0..128)
        .map(|i| vec![Write::Create(service(&format!("many-{i}")))])
        .collect();
    let many = controllers.off_thread(|r| r.commit_groups(groups)).await;
    assert!(
        matches!(&many, Ok(outcome) if outcome.changes.len() == 128),
        "{many:?}"
    );

    // b takes over: a shuts its election down (its lease goes), b takes the key at a new term.
    let b_shutdown = CancellationToken::new();
    let b = elect(&etcd, "b", &b_shutdown).await;
    a_shutdown.cancel();
    a.release();
    let new_term = term_of(&b, Duration::from_secs(5)).await;
    assert_ne!(new_term, term);

    // a's controller handle is fenced off: nothing lands, the error says why, the term stops.
    let refused = controllers
        .off_thread(|r| r.commit(vec![Write::Create(service("after-deposed"))]))
        .await;
    assert!(
        matches!(&refused, Err(RegistryError::Fenced { fence: f }) if *f == fence),
        "{refused:?}"
    );
    assert!(term_fence.is_deposed() && term_fence.stop().is_cancelled());
    assert!(!gate_token.is_cancelled());
    let modified = controllers
        .off_thread(|r| {
            r.modify::<serde_json::Value, _>(&key("while-leading"), |v| {
                v["spec"]["selector"]["app"] = json!("changed");
                true
            })
        })
        .await;
    assert!(
        matches!(modified, Err(RegistryError::Fenced { .. })),
        "{modified:?}"
    );
    let groups = controllers
        .off_thread(|r| r.commit_groups(vec![vec![Write::Create(service("grouped"))]]))
        .await;
    assert!(
        matches!(groups, Err(RegistryError::Fenced { .. })),
        "{groups:?}"
    );
    for name in ["after-deposed", "grouped"] {
        assert_eq!(registry.get(&key(name)).expect("get"), None, "{name}");
    }
    let kept = registry
        .get(&key("while-leading"))
        .expect("get")
        .expect("kept");
    assert_eq!(kept.0["spec"]["selector"]["app"], "while-leading");

    // The API's handle (the same registry, unfenced) still writes.
    let api = registry
        .off_thread(|r| r.commit(vec![Write::Create(service("from-a-person"))]))
        .await;
    assert!(api.is_ok(), "{api:?}");

    // b's own term fences b's controllers, and they write.
    let b_fence = Leadership::Etcd(Box::new(b.clone()))
        .fence(new_term)
        .expect("etcd fences");
    let b_controllers =
        Arc::new(registry.fenced(Arc::new(TermFence::new(b_fence, &CancellationToken::new()))));
    let b_landed = b_controllers
        .off_thread(|r| r.commit(vec![Write::Create(service("by-b"))]))
        .await;
    assert!(b_landed.is_ok(), "{b_landed:?}");
    b_shutdown.cancel();
    b.release();
}

#[test]
fn the_only_server_on_its_own_store_has_no_fence() {
    let leadership = Leadership::always(ServerIdentity {
        name: "only".into(),
        url: "http://only".into(),
    });
    assert_eq!(leadership.fence(0), None);
    assert_eq!(leadership.role().borrow().term(), Some(0));
}
