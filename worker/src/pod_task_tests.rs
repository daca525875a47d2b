//! The pod lifecycle's transitions, on a scripted host and tokio's paused clock: every delay is
//! exact and the tests take no wall time.

use super::*;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use wasmpod_runtime::PodRuntimeSpec;

const POLICY: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(1),
    reset_after: Duration::from_secs(60),
};

/// What the host was asked to do, and when (time since the test started).
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Load,
    Resolve,
    HttpPod,
    CommandPod,
    RunCommand,
    Probe(String),
    Route(bool),
    Event(String),
    Stopped,
}

/// What a resolve answers.
#[allow(dead_code)]
enum Resolve {
    Ok,
    Fail(StartFailure),
    /// Never answers (the control plane hangs).
    Hang,
}

#[derive(Default)]
struct Script {
    /// Load results in order; `Ok` once empty.
    loads: VecDeque<Result<(), StartFailure>>,
    resolves: VecDeque<Resolve>,
    /// Command exits in order; a command runs forever once empty.
    exits: VecDeque<CommandExit>,
    /// Probe results in order; passing once empty.
    probes: VecDeque<bool>,
    /// Requests in flight, each answer in order; 0 once empty.
    in_flight: VecDeque<u32>,
}

#[derive(Default)]
struct Record {
    calls: Vec<(u64, Call)>,
    statuses: Vec<PodStatus>,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<Script>>,
    record: Arc<Mutex<Record>>,
    epoch: Instant,
}

impl Shared {
    fn new(script: Script) -> Shared {
        Shared {
            script: Arc::new(Mutex::new(script)),
            record: Arc::default(),
            epoch: Instant::now(),
        }
    }

    fn call(&self, call: Call) {
        let at = self.epoch.elapsed().as_millis() as u64;
        self.record.lock().unwrap().calls.push((at, call));
    }

    fn calls(&self) -> Vec<(u64, Call)> {
        self.record.lock().unwrap().calls.clone()
    }

    /// The times of one kind of call.
    fn times(&self, call: &Call) -> Vec<u64> {
        self.calls()
            .into_iter()
            .filter(|(_, c)| c == call)
            .map(|(at, _)| at)
            .collect()
    }

    fn last_status(&self) -> PodStatus {
        self.record
            .lock()
            .unwrap()
            .statuses
            .last()
            .cloned()
            .unwrap()
    }

    fn events(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|(_, c)| match c {
                Call::Event(reason) => Some(reason),
                _ => None,
            })
            .collect()
    }
}

struct FakeHost {
    world: ComponentWorld,
    shared: Shared,
}

impl PodHost for FakeHost {
    type Component = ();
    type Http = ();
    type Command = ();

    fn world(&self, _: &()) -> ComponentWorld {
        self.world
    }

    async fn load(&mut self, _component: &wasmpod_api::ComponentRef) -> Result<(), StartFailure> {
        self.shared.call(Call::Load);
        let next = self.shared.script.lock().unwrap().loads.pop_front();
        next.unwrap_or(Ok(()))
    }

    async fn resolve(&mut self, _version: Option<String>) -> Result<PodRuntimeSpec, StartFailure> {
        self.shared.call(Call::Resolve);
        let next = self.shared.script.lock().unwrap().resolves.pop_front();
        match next.unwrap_or(Resolve::Ok) {
            Resolve::Ok => Ok(PodRuntimeSpec::new("p")),
            Resolve::Fail(failure) => Err(failure),
            Resolve::Hang => std::future::pending().await,
        }
    }

    fn http_pod(&self, _: &(), _: PodRuntimeSpec) -> Result<(), StartFailure> {
        self.shared.call(Call::HttpPod);
        Ok(())
    }

    fn command_pod(&self, _: &(), _: PodRuntimeSpec) -> Result<(), StartFailure> {
        self.shared.call(Call::CommandPod);
        Ok(())
    }

    async fn run_command(&self, _: &()) -> CommandExit {
        self.shared.call(Call::RunCommand);
        let next = self.shared.script.lock().unwrap().exits.pop_front();
        match next {
            Some(exit) => {
                // A command runs for a while before it exits.
                tokio::time::sleep(Duration::from_millis(10)).await;
                exit
            }
            None => std::future::pending().await,
        }
    }

    async fn probe(&self, _: &(), path: &str, _timeout: Duration) -> bool {
        self.shared.call(Call::Probe(path.to_string()));
        let next = self.shared.script.lock().unwrap().probes.pop_front();
        next.unwrap_or(true)
    }

    fn route(&self, http: Option<&()>) {
        self.shared.call(Call::Route(http.is_some()));
    }

    fn in_flight(&self, _: &()) -> u32 {
        let next = self.shared.script.lock().unwrap().in_flight.pop_front();
        next.unwrap_or(0)
    }

    fn report(&self, status: &PodStatus) {
        self.shared
            .record
            .lock()
            .unwrap()
            .statuses
            .push(status.clone());
    }

    fn event(&self, _: EventType, reason: &str, _message: String) {
        self.shared.call(Call::Event(reason.to_string()));
    }

    fn log(&self, _line: &str) {}

    fn stopped(&mut self) {
        self.shared.call(Call::Stopped);
    }
}

fn pod(extra: serde_json::Value) -> Pod {
    let mut spec = serde_json::json!({ "component": format!("sha256:{}", "a".repeat(64)) });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": "p", "namespace": "default" },
        "spec": spec,
    }))
    .unwrap()
}

struct Running {
    shared: Shared,
    cancel: CancellationToken,
    terminate: CancellationToken,
    config: tokio::sync::watch::Sender<Option<String>>,
    task: tokio::task::JoinHandle<()>,
}

fn spawn(world: ComponentWorld, pod: Pod, script: Script) -> Running {
    let shared = Shared::new(script);
    let host = FakeHost {
        world,
        shared: shared.clone(),
    };
    let cancel = CancellationToken::new();
    let terminate = CancellationToken::new();
    let (config, rx) = tokio::sync::watch::channel(Some("1".to_string()));
    let task = tokio::spawn(run_on(
        host,
        POLICY,
        pod,
        Signals {
            cancel: cancel.clone(),
            terminate: terminate.clone(),
        },
        rx,
    ));
    Running {
        shared,
        cancel,
        terminate,
        config,
        task,
    }
}

async fn wait(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn http_pod_starts_serving_and_routes_traffic() {
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({})),
        Script::default(),
    );
    wait(1000).await;
    let calls: Vec<Call> = r.shared.calls().into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        calls,
        [
            Call::Load,
            Call::Resolve,
            Call::HttpPod,
            Call::Route(true),
            Call::Event("Started".into()),
        ]
    );
    let status = r.shared.last_status();
    assert_eq!(status.phase, PodPhase::Running);
    assert!(status.ready, "no readiness probe: ready at once");
    assert_eq!(status.restart_count, 0);
}

#[tokio::test(start_paused = true)]
async fn trapped_command_restarts_with_doubling_backoff() {
    let script = Script {
        exits: [
            CommandExit::Trapped("unreachable".into()),
            CommandExit::Exited(3),
        ]
        .into(),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Command, pod(serde_json::json!({})), script);
    wait(50).await;
    // Started at 0, trapped at 10, back off 100 ms.
    let status = r.shared.last_status();
    assert_eq!(status.reason.as_deref(), Some("StartTrap"));
    assert!(
        status
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("in wasi:cli/run: unreachable")),
        "{status:?}"
    );
    assert_eq!(
        status.last_termination.map(|t| t.reason),
        Some("StartTrap".to_string())
    );
    wait(1100).await;
    // Restarted at 110, exited 3 at 120, back off 200 ms: third run at 320, which never ends.
    assert_eq!(r.shared.times(&Call::CommandPod), [0, 110, 320]);
    let status = r.shared.last_status();
    assert_eq!(status.restart_count, 2);
    assert_eq!(status.phase, PodPhase::Running);
    assert!(status.ready);
    assert_eq!(
        r.shared.events(),
        [
            "Started",
            "StartTrap",
            "BackOff",
            "Started",
            "BackOff",
            "Started"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn command_pod_that_never_restarts_ends_with_its_exit() {
    let script = Script {
        exits: [CommandExit::Exited(0)].into(),
        ..Script::default()
    };
    let r = spawn(
        ComponentWorld::Command,
        pod(serde_json::json!({ "restartPolicy": "OnFailure" })),
        script,
    );
    wait(5000).await;
    assert_eq!(r.shared.times(&Call::CommandPod), [0]);
    let status = r.shared.last_status();
    assert_eq!(status.phase, PodPhase::Succeeded);
    assert_eq!(status.reason.as_deref(), Some("Completed"));
}

#[tokio::test(start_paused = true)]
async fn component_that_cannot_load_is_retried_with_backoff() {
    let failure = || Err(StartFailure::Component("cannot fetch".into()));
    let script = Script {
        loads: [failure(), failure(), failure()].into(),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Http, pod(serde_json::json!({})), script);
    wait(50).await;
    let status = r.shared.last_status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert_eq!(status.reason.as_deref(), Some("ComponentError"));
    assert_eq!(status.message.as_deref(), Some("cannot fetch"));
    wait(1000).await;
    // Delays of 100, 200 and 400 ms, then it loads and serves.
    assert_eq!(r.shared.times(&Call::Load), [0, 100, 300, 700]);
    assert_eq!(r.shared.times(&Call::HttpPod), [700]);
    assert_eq!(r.shared.last_status().phase, PodPhase::Running);
}

/// A pull failure shows ErrImagePull with an event, then ImagePullBackOff while the back-off
/// runs (as kubelet does), and is retried with the doubling back-off until it pulls.
#[tokio::test(start_paused = true)]
async fn failed_pull_is_err_image_pull_then_image_pull_back_off_and_retried() {
    let failure = || {
        Err(StartFailure::ImagePull(
            "cannot pull oci://r/a@sha256:x: 401".into(),
        ))
    };
    let script = Script {
        loads: [failure(), failure()].into(),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Http, pod(serde_json::json!({})), script);
    wait(20).await;
    let status = r.shared.last_status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert_eq!(status.reason.as_deref(), Some("ErrImagePull"));
    assert!(status
        .message
        .as_deref()
        .unwrap_or_default()
        .contains("401"));
    wait(50).await;
    let status = r.shared.last_status();
    assert_eq!(status.reason.as_deref(), Some("ImagePullBackOff"));
    assert!(status
        .message
        .as_deref()
        .unwrap_or_default()
        .starts_with("Back-off pulling"));
    assert!(r.shared.events().contains(&"ErrImagePull".to_string()));
    assert!(r.shared.events().contains(&"BackOff".to_string()));
    wait(1000).await;
    assert_eq!(r.shared.times(&Call::Load), [0, 100, 300]);
    assert_eq!(r.shared.last_status().phase, PodPhase::Running);
}

#[tokio::test(start_paused = true)]
async fn component_not_pinned_by_digest_is_invalid() {
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({ "component": "app.wasm" })),
        Script::default(),
    );
    wait(50).await;
    let status = r.shared.last_status();
    assert_eq!(status.reason.as_deref(), Some("InvalidComponent"));
    assert!(r.shared.times(&Call::Load).is_empty());
}

#[tokio::test(start_paused = true)]
async fn missing_config_reference_waits_as_create_container_config_error() {
    let script = Script {
        resolves: [Resolve::Fail(StartFailure::Config("no ConfigMap x".into()))].into(),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Http, pod(serde_json::json!({})), script);
    wait(50).await;
    let status = r.shared.last_status();
    assert_eq!(status.reason.as_deref(), Some("CreateContainerConfigError"));
    wait(100).await;
    // The retry starts from the loaded component: no second load.
    assert_eq!(r.shared.times(&Call::Load), [0]);
    assert_eq!(r.shared.times(&Call::Resolve), [0, 100]);
    assert_eq!(r.shared.times(&Call::HttpPod), [100]);
}

#[tokio::test(start_paused = true)]
async fn config_change_restarts_a_command_pod() {
    let r = spawn(
        ComponentWorld::Command,
        pod(serde_json::json!({})),
        Script::default(),
    );
    wait(100).await;
    r.config.send_replace(Some("2".into()));
    wait(100).await;
    assert_eq!(r.shared.times(&Call::CommandPod), [0, 100]);
    assert!(r.shared.events().contains(&"ConfigChanged".to_string()));
    let status = r.shared.last_status();
    assert_eq!(status.restart_count, 1);
    assert_eq!(
        status.last_termination.map(|t| t.reason),
        Some("ConfigChanged".to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn config_change_reloads_an_http_pod_without_counting_a_restart() {
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({})),
        Script::default(),
    );
    wait(100).await;
    r.config.send_replace(Some("2".into()));
    wait(100).await;
    assert_eq!(r.shared.times(&Call::HttpPod), [0, 100]);
    assert_eq!(r.shared.times(&Call::Resolve), [0, 100]);
    assert_eq!(r.shared.last_status().restart_count, 0);
}

#[tokio::test(start_paused = true)]
async fn pod_deleted_during_start_stops_trying_and_cleans_up_on_cancel() {
    let script = Script {
        resolves: [Resolve::Fail(StartFailure::PodDeleted("gone".into()))].into(),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Http, pod(serde_json::json!({})), script);
    wait(10_000).await;
    // No retries, no start: the pod waits for the manager to stop it.
    assert_eq!(r.shared.times(&Call::Resolve), [0]);
    assert!(r.shared.times(&Call::HttpPod).is_empty());
    assert!(r.shared.times(&Call::Stopped).is_empty());
    r.cancel.cancel();
    r.task.await.unwrap();
    assert_eq!(r.shared.times(&Call::Stopped), [10_000]);
}

#[tokio::test(start_paused = true)]
async fn cancel_while_config_resolves_stops_the_pod() {
    let script = Script {
        resolves: [Resolve::Hang].into(),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Http, pod(serde_json::json!({})), script);
    wait(500).await;
    r.cancel.cancel();
    r.task.await.unwrap();
    assert!(r.shared.times(&Call::HttpPod).is_empty());
    assert_eq!(r.shared.times(&Call::Stopped), [500]);
}

#[tokio::test(start_paused = true)]
async fn manager_dropping_the_config_channel_stops_a_running_pod() {
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({})),
        Script::default(),
    );
    wait(100).await;
    drop(r.config);
    r.task.await.unwrap();
    assert_eq!(r.shared.times(&Call::Stopped), [100]);
}

fn probe(path: &str, period: u64, failure_threshold: u32) -> serde_json::Value {
    serde_json::json!({
        "httpGet": { "path": path },
        "periodSeconds": period,
        "failureThreshold": failure_threshold,
    })
}

#[tokio::test(start_paused = true)]
async fn failing_liveness_probe_takes_traffic_away_and_restarts() {
    let script = Script {
        probes: [false, false].into(),
        ..Script::default()
    };
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({ "livenessProbe": probe("/live", 1, 2) })),
        script,
    );
    wait(1500).await;
    // Probes at 0 and 1 s; the second failure reaches the threshold and the pod is restarted
    // after 100 ms of backoff, where probing starts again (and passes).
    assert_eq!(
        r.shared.times(&Call::Probe("/live".into())),
        [0, 1000, 1100]
    );
    let routes: Vec<Call> = r
        .shared
        .calls()
        .into_iter()
        .filter(|(_, c)| matches!(c, Call::Route(_)))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(
        routes,
        [Call::Route(true), Call::Route(false), Call::Route(true)]
    );
    assert_eq!(r.shared.times(&Call::HttpPod), [0, 1100]);
    assert!(r.shared.events().contains(&"Killing".to_string()));
    let status = r.shared.last_status();
    assert_eq!(status.restart_count, 1);
    assert_eq!(
        status.last_termination.map(|t| t.reason),
        Some("LivenessProbeFailed".to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn readiness_probe_decides_readiness() {
    let script = Script {
        probes: [true, false].into(),
        ..Script::default()
    };
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({ "readinessProbe": probe("/ready", 1, 1) })),
        script,
    );
    wait(500).await;
    assert!(r.shared.last_status().ready, "first probe passed");
    wait(1000).await;
    let status = r.shared.last_status();
    assert!(!status.ready);
    assert_eq!(status.reason.as_deref(), Some("NotReady"));
    // Readiness never restarts the pod.
    assert_eq!(r.shared.times(&Call::HttpPod), [0]);
}

#[tokio::test(start_paused = true)]
async fn command_component_with_an_http_probe_is_the_wrong_world() {
    let r = spawn(
        ComponentWorld::Command,
        pod(serde_json::json!({ "readinessProbe": {"httpGet": {"path": "/ready"}} })),
        Script::default(),
    );
    wait(50).await;
    assert!(r.shared.times(&Call::CommandPod).is_empty());
    let status = r.shared.last_status();
    assert_eq!(status.phase, PodPhase::Pending);
    assert_eq!(status.reason.as_deref(), Some("WrongWorld"));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("readinessProbe") && message.contains("wasi:cli/run"),
        "{message}"
    );
    assert_eq!(
        r.shared.events().first().map(String::as_str),
        Some("WrongWorld")
    );
}

#[tokio::test(start_paused = true)]
async fn a_terminating_http_pod_serves_on_leaves_its_routes_then_drains_before_it_stops() {
    let script = Script {
        // Two polls with requests in flight, then none.
        in_flight: VecDeque::from([2, 1, 0]),
        ..Script::default()
    };
    let r = spawn(ComponentWorld::Http, pod(serde_json::json!({})), script);
    wait(100).await;
    r.terminate.cancel();
    wait(500).await;
    assert!(
        !r.shared
            .calls()
            .iter()
            .any(|(_, c)| *c == Call::Route(false)),
        "still routed while the gateways drop it"
    );
    wait(2000).await;
    let routed_off = r.shared.times(&Call::Route(false));
    assert_eq!(routed_off.len(), 1, "{:?}", r.shared.calls());
    assert!(
        routed_off[0] >= 1100,
        "after the propagation delay: {routed_off:?}"
    );
    let status = r.shared.last_status();
    assert_eq!(
        (status.phase, status.reason.as_deref(), status.ready),
        (PodPhase::Succeeded, Some(TERMINATED), false)
    );
    assert!(
        !r.shared.calls().iter().any(|(_, c)| *c == Call::Stopped),
        "the task waits for its pod's deletion"
    );
    r.cancel.cancel();
    r.task.await.unwrap();
    assert!(r.shared.calls().iter().any(|(_, c)| *c == Call::Stopped));
}

#[tokio::test(start_paused = true)]
async fn a_terminating_pod_stops_at_its_grace_period_with_requests_in_flight() {
    let script = Script {
        in_flight: VecDeque::from(vec![1; 10_000]),
        ..Script::default()
    };
    let r = spawn(
        ComponentWorld::Http,
        pod(serde_json::json!({"terminationGracePeriodSeconds": 3})),
        script,
    );
    wait(100).await;
    r.terminate.cancel();
    wait(2900).await;
    assert_eq!(r.shared.last_status().phase, PodPhase::Running, "draining");
    wait(300).await;
    assert_eq!(
        r.shared.last_status().phase,
        PodPhase::Succeeded,
        "grace over"
    );
}
