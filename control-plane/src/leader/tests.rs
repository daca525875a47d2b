//! The election against a real etcd (`/usr/bin/etcd`, started here on free loopback ports with a
//! temporary data directory), with short timings so the tests stay quick.

use super::elector::{self, EtcdElectionConfig};
use super::{gate, ElectionTiming, Leadership, ServerIdentity};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One etcd member, killed on drop.
pub(super) struct Etcd {
    child: Child,
    pub(super) endpoint: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Etcd {
    pub(super) async fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let (client, peer) = (free_port(), free_port());
        let child = Command::new("/usr/bin/etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path())
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=t=http://127.0.0.1:{peer}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/etcd");
        let etcd = Etcd {
            child,
            endpoint: format!("127.0.0.1:{client}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = etcd_client::Client::connect([&etcd.endpoint], None).await {
                if c.get("/", None).await.is_ok() {
                    return etcd;
                }
            }
            assert!(Instant::now() < deadline, "etcd did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn timing() -> ElectionTiming {
    ElectionTiming::try_new(
        Duration::from_secs(2),
        Duration::from_millis(500),
        Duration::from_millis(200),
    )
    .expect("valid timing")
}

/// One server's part: its elector task, and a gate whose "controllers" record when they run.
struct Candidate {
    leadership: Leadership,
    elector: tokio::task::JoinHandle<()>,
    gate: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

type Intervals = Arc<Mutex<Vec<(String, Instant, Option<Instant>)>>>;

/// An etcd endpoint a candidate connects to.
struct EtcdAt(String);

async fn candidate(etcd: &Etcd, name: &str, runs: &Intervals) -> Candidate {
    candidate_at(&EtcdAt(etcd.endpoint.clone()), name, runs, Duration::ZERO).await
}

/// `pass`: how long its controllers take to return once cancelled (a pass in flight).
async fn candidate_at(etcd: &EtcdAt, name: &str, runs: &Intervals, pass: Duration) -> Candidate {
    let shutdown = CancellationToken::new();
    let (handle, elector) = elector::start(
        EtcdElectionConfig {
            endpoints: vec![etcd.0.clone()],
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
    let leadership = Leadership::Etcd(Box::new(handle));
    let (runs, me) = (runs.clone(), name.to_string());
    let gate = tokio::spawn(gate::run_while_leader(
        leadership.clone(),
        shutdown.clone(),
        move |term: gate::Term| {
            let runs = runs.clone();
            let me = me.clone();
            vec![tokio::spawn(async move {
                let index = {
                    let mut runs = runs.lock().expect("lock");
                    runs.push((me, Instant::now(), None));
                    runs.len() - 1
                };
                term.stop.cancelled().await;
                tokio::time::sleep(pass).await;
                runs.lock().expect("lock")[index].2 = Some(Instant::now());
            })]
        },
    ));
    Candidate {
        leadership,
        elector,
        gate,
        shutdown,
    }
}

fn leading(candidates: &[&Candidate]) -> Vec<String> {
    candidates
        .iter()
        .filter(|c| c.leadership.role().borrow().is_leader())
        .map(|c| c.leadership.me().name.clone())
        .collect()
}

async fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// No two candidates' controllers ever ran at the same time.
fn assert_no_overlap(runs: &Intervals) {
    let runs = runs.lock().expect("lock");
    let now = Instant::now();
    for (i, (a, a_start, a_end)) in runs.iter().enumerate() {
        for (b, b_start, b_end) in runs.iter().skip(i + 1) {
            if a == b {
                continue;
            }
            let (a_end, b_end) = (a_end.unwrap_or(now), b_end.unwrap_or(now));
            assert!(
                a_end <= *b_start || b_end <= *a_start,
                "{a} and {b} ran controllers at the same time: {runs:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_a_new_one_after_the_leader_dies() {
    let etcd = Etcd::start().await;
    let runs = Intervals::default();
    let a = candidate(&etcd, "a", &runs).await;
    let b = candidate(&etcd, "b", &runs).await;
    wait_for("a leader", Duration::from_secs(5), || {
        leading(&[&a, &b]).len() == 1
    })
    .await;
    // Both are registered; the status names the leader.
    let status = a.leadership.status().await.expect("status");
    let leader = leading(&[&a, &b]).remove(0);
    assert_eq!(
        status.leader.as_ref().map(|l| l.holder.clone()),
        Some(leader.clone())
    );
    assert_eq!(status.leader.and_then(|l| l.lease_ttl_seconds), Some(2));
    let mut names: Vec<_> = status.servers.iter().map(|s| s.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    // Stays one leader over several renewals.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(leading(&[&a, &b]).len(), 1);
    }
    // The leader dies without a word (its tasks aborted: no revocation, like kill -9).
    let (dead, survivor) = if leader == "a" { (a, b) } else { (b, a) };
    dead.elector.abort();
    dead.gate.abort();
    let died = Instant::now();
    // Its "controllers" died with it.
    dead.shutdown.cancel();
    let failover = wait_for("the survivor leads", Duration::from_secs(5), || {
        survivor.leadership.role().borrow().is_leader()
    })
    .await;
    assert!(
        failover <= Duration::from_millis(2000 + 200 + 500 + 800),
        "failover took {failover:?}"
    );
    tracing::info!(?failover, since_death = ?died.elapsed(), "failover");
    let status = survivor.leadership.status().await.expect("status");
    assert_eq!(
        status.leader.map(|l| l.holder),
        Some(survivor.leadership.me().name.clone())
    );
    // The dead server's membership went with its lease.
    assert_eq!(status.servers.len(), 1, "{:?}", status.servers);
    survivor.shutdown.cancel();
    let _ = survivor.gate.await;
    let _ = survivor.elector.await;
}

/// A TCP proxy to etcd that can be cut: from then on it forwards nothing (connections made
/// afterwards are accepted and held silent), as a network partition would.
struct Proxy {
    endpoint: String,
    cut: CancellationToken,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = listener.local_addr().expect("addr").to_string();
        let cut = CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if stop.is_cancelled() {
                    held.push(inbound);
                    continue;
                }
                let stop = stop.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // Hold both ends open and silent until the test ends.
                        _ = stop.cancelled() => std::future::pending::<()>().await,
                    }
                });
            }
        });
        Proxy { endpoint, cut }
    }
}

async fn candidate_via(endpoint: &str, name: &str, runs: &Intervals) -> Candidate {
    // Its controllers need most of a renewal period (500 ms) to finish the pass in flight.
    let pass = Duration::from_millis(400);
    candidate_at(&EtcdAt(endpoint.to_string()), name, runs, pass).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_etcd_stops_its_controllers_before_another_starts() {
    let etcd = Etcd::start().await;
    let proxy = Proxy::start(etcd.endpoint.clone()).await;
    let runs = Intervals::default();
    let a = candidate_via(&proxy.endpoint, "a", &runs).await;
    wait_for("a leads", Duration::from_secs(5), || {
        a.leadership.role().borrow().is_leader()
    })
    .await;
    let b = candidate(&etcd, "b", &runs).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(leading(&[&a, &b]), ["a"]);
    // a can no longer reach etcd; b can.
    proxy.cut.cancel();
    let cut = Instant::now();
    let stepped_down = wait_for("a steps down", Duration::from_secs(3), || {
        !a.leadership.role().borrow().is_leader()
    })
    .await;
    // Its last renewal was before the cut: its lease lasts at least until then + TTL.
    assert!(
        stepped_down < Duration::from_secs(2),
        "a stepped down {stepped_down:?} after the cut: its lease could have expired first"
    );
    wait_for("b leads", Duration::from_secs(5), || {
        b.leadership.role().borrow().is_leader()
    })
    .await;
    let took_over = cut.elapsed();
    assert!(took_over > stepped_down, "b led before a stepped down");
    wait_for("b's controllers run", Duration::from_secs(2), || {
        runs.lock()
            .expect("lock")
            .iter()
            .any(|(who, _, _)| who == "b")
    })
    .await;
    // a's controllers (their pass in flight included) had returned before b's started: a
    // stepped down a renewal period before its lease could expire.
    assert_no_overlap(&runs);
    assert!(!a.leadership.role().borrow().is_leader());
    for c in [a, b] {
        c.shutdown.cancel();
        let _ = c.gate.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_shutting_down_hands_over_at_once() {
    let etcd = Etcd::start().await;
    let runs = Intervals::default();
    let a = candidate(&etcd, "a", &runs).await;
    wait_for("a leads", Duration::from_secs(5), || {
        a.leadership.role().borrow().is_leader()
    })
    .await;
    let b = candidate(&etcd, "b", &runs).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(leading(&[&a, &b]), ["a"]);
    a.shutdown.cancel();
    let _ = a.gate.await;
    let _ = a.elector.await;
    // The lease was revoked: b does not wait for a TTL.
    let took = wait_for("b leads", Duration::from_secs(3), || {
        b.leadership.role().borrow().is_leader()
    })
    .await;
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_no_overlap(&runs);
    b.shutdown.cancel();
    let _ = b.gate.await;
    let _ = b.elector.await;
}

#[test]
fn timings_that_would_lose_the_lease_between_renewals_are_refused() {
    assert!(ElectionTiming::try_new(
        Duration::from_secs(3),
        Duration::from_secs(2),
        Duration::from_millis(500)
    )
    .is_err());
    assert!(ElectionTiming::try_new(
        Duration::from_millis(2500),
        Duration::from_secs(1),
        Duration::from_millis(500)
    )
    .is_err());
    assert!(ElectionTiming::try_new(
        Duration::from_secs(1),
        Duration::from_millis(100),
        Duration::from_millis(500)
    )
    .is_err());
    assert_eq!(
        ElectionTiming::try_new(
            Duration::from_secs(3),
            Duration::from_secs(1),
            Duration::from_millis(500)
        )
        .expect("default"),
        ElectionTiming::default()
    );
}
