use super::*;
use std::time::Duration;

const COST: InstanceCost = InstanceCost {
    core_instances: 2,
    memories: 1,
    tables: 1,
};

fn node(slots: u32, queue_depth: usize) -> Arc<Admission> {
    Admission::new(AdmissionConfig {
        slots,
        queue_depth,
        queue_timeout: Duration::from_secs(5),
    })
}

/// Polls `fut` once: `Some` if it finished.
fn now<F: std::future::Future>(fut: F) -> Option<F::Output> {
    futures::FutureExt::now_or_never(fut)
}

#[test]
fn the_cost_of_an_instance_is_its_largest_need() {
    assert_eq!(COST.slots(), 2);
    let none = InstanceCost {
        core_instances: 0,
        memories: 0,
        tables: 0,
    };
    assert_eq!(none.slots(), 1);
}

#[test]
fn the_default_limit_is_a_fair_share_never_below_an_eighth_of_the_pool() {
    let node = node(160, 10);
    // 160 slots / 2 per instance = 80 instances.
    let a = node.pod(COST, None, true);
    assert_eq!(a.limit(), 80, "a lone pod may use the whole pool");
    let b = node.pod(COST, None, true);
    assert_eq!((a.limit(), b.limit()), (40, 40));
    let others: Vec<_> = (0..30).map(|_| node.pod(COST, None, true)).collect();
    assert_eq!(a.limit(), 10, "never below 80 / {MIN_SHARE_DIVISOR}");
    drop(others);
    drop(b);
    assert_eq!(a.limit(), 80);
    let explicit = node.pod(COST, Some(3), true);
    assert_eq!(explicit.limit(), 3);
    assert_eq!(
        node.pod(COST, Some(0), false).limit(),
        40,
        "0 means the default"
    );
}

#[tokio::test]
async fn a_pod_at_its_limit_waits_and_is_served_in_order() {
    let node = node(100, 10);
    let pod = node.pod(COST, Some(2), true);
    let first = pod.acquire().await.expect("first");
    let second = pod.acquire().await.expect("second");
    assert_eq!((pod.in_use(), node.used()), (2, 4));

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..3 {
        let pod = pod.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let permit = pod.acquire().await.expect("queued request served");
            tx.send(i).expect("send");
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(permit);
        });
    }
    tokio::task::yield_now().await;
    assert!(rx.try_recv().is_err(), "nobody is served past the limit");
    drop(first);
    drop(second);
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(rx.recv().await.expect("served"));
    }
    assert_eq!(order, [0, 1, 2], "FIFO");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!((pod.in_use(), node.used()), (0, 0), "every slot is back");
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_and_a_long_wait_are_refused() {
    let node = node(100, 2);
    let pod = node.pod(COST, Some(1), true);
    let held = pod.acquire().await.expect("first");
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let pod = pod.clone();
            tokio::spawn(async move { pod.acquire().await.map(drop) })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(
        pod.acquire().await.err(),
        Some(Refused::QueueFull { waiting: 2 })
    );
    // The paused clock jumps to the queue timeout.
    for task in waiting {
        assert_eq!(
            task.await.expect("task"),
            Err(Refused::TimedOut(Duration::from_secs(5)))
        );
    }
    assert!(!node.contended(), "timed-out waiters left the queue");
    drop(held);
    assert_eq!(node.used(), 0);
    assert!(pod.acquire().await.is_ok());
}

#[tokio::test]
async fn a_waiter_that_gives_up_leaves_the_queue_and_no_slot_leaks() {
    let node = node(100, 10);
    let pod = node.pod(COST, Some(1), true);
    let held = pod.acquire().await.expect("first");
    {
        let waiting = pod.acquire();
        futures::pin_mut!(waiting);
        assert!(now(waiting.as_mut()).is_none());
        assert!(node.contended());
    }
    assert!(!node.contended(), "the dropped request left the queue");
    drop(held);
    assert_eq!((pod.in_use(), node.used()), (0, 0));
}

#[tokio::test]
async fn pods_take_turns_when_the_pool_is_full() {
    // Room for two instances on the whole node.
    let node = node(4, 100);
    let busy = node.pod(COST, Some(10), true);
    let quiet = node.pod(COST, Some(10), true);
    let held = [
        busy.acquire().await.expect("1"),
        busy.acquire().await.expect("2"),
    ];
    assert_eq!(node.used(), 4);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The busy pod queues ten requests first, then the quiet one queues one.
    for (name, pod, n) in [("busy", &busy, 10), ("quiet", &quiet, 1)] {
        for _ in 0..n {
            let pod = pod.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let permit = pod.acquire().await.expect("served");
                tx.send((name, permit)).map_err(drop).expect("send");
            });
            tokio::task::yield_now().await;
        }
    }
    drop(held);
    let (first, p1) = rx.recv().await.expect("first grant");
    let (second, p2) = rx.recv().await.expect("second grant");
    let mut names = [first, second];
    names.sort();
    assert_eq!(
        names,
        ["busy", "quiet"],
        "the quiet pod is served in the first turn, not after the busy pod's burst"
    );
    drop((p1, p2));
}

#[tokio::test]
async fn a_pod_limit_leaves_the_rest_of_the_pool_to_others() {
    let node = node(8, 100);
    let looping = node.pod(COST, Some(2), true);
    let other = node.pod(COST, None, true);
    let _held = [
        looping.acquire().await.expect("1"),
        looping.acquire().await.expect("2"),
    ];
    let stuck = looping.acquire();
    futures::pin_mut!(stuck);
    assert!(now(stuck.as_mut()).is_none(), "the looping pod waits");
    // Another pod is admitted at once, even with a waiter on the node.
    assert!(now(other.acquire()).is_some_and(|p| p.is_ok()));
}
