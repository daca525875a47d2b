//! One pod's life on this node, as an explicit state machine:
//! Pulling -> Starting -> Serving (HTTP) | Running (command) -> BackOff -> Starting ... -> Finished.
//! Every transition is reported to the control plane as the pod's status, in the background:
//! with the control plane down the pod still restarts, on the config it last had.
//!
//! The machine knows the node only through [`PodHost`] (`pod_host.rs`): the real node in
//! production, a scripted one in the unit tests (`pod_task_tests.rs`), which run on tokio's
//! paused clock.

use crate::backoff::{Backoff, BackoffPolicy};
use crate::context::NodeContext;
use crate::pod_host::{NodeHost, PodHost, StartFailure};
use crate::probes::ProbeRunner;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wasmpod_api::EventType;
use wasmpod_api::{Pod, PodPhase, PodStatus, RestartPolicy, Termination};
use wasmpod_runtime::{CommandExit, ComponentWorld};

/// The status reason of a pod this node drained and stopped.
pub const TERMINATED: &str = "Terminated";

enum State<H: PodHost> {
    Pulling,
    Starting(H::Component),
    Serving {
        http: H::Http,
        component: H::Component,
    },
    Running {
        command: H::Command,
        component: H::Component,
        started: Instant,
    },
    BackOff {
        until: Instant,
        then: Box<State<H>>,
    },
    Finished,
}

impl<H: PodHost> State<H> {
    /// The component of a started pod (one that a config change restarts).
    fn started_component(&self) -> Option<&H::Component> {
        match self {
            State::Serving { component, .. } | State::Running { component, .. } => Some(component),
            _ => None,
        }
    }
}

struct PodTask<H: PodHost> {
    host: H,
    pod: Pod,
    status: PodStatus,
    backoff: Backoff,
    /// The pod's config version as the node last saw it.
    version: tokio::sync::watch::Receiver<Option<String>>,
    /// The last pull failure's message, until its back-off turns the reason to
    /// `ImagePullBackOff`.
    pull_failed: Option<String>,
}

const ERR_IMAGE_PULL: &str = "ErrImagePull";
const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";

/// How long a terminating pod keeps serving before it leaves this node's routes: the time for
/// the other gateways to see its terminating mark and stop forwarding here.
const ENDPOINT_PROPAGATION: Duration = Duration::from_secs(1);

/// How a pod's manager stops its task.
pub struct Signals {
    /// Stop now (the pod is gone, moved away, or the node shuts down).
    pub cancel: CancellationToken,
    /// The pod is terminating: drain its in-flight requests, then stop.
    pub terminate: CancellationToken,
}

/// Runs `pod` until `signals.cancel` (the pod was deleted or moved away), or drains and stops
/// it on `signals.terminate`. `config` carries the pod's config version: when it changes, the
/// pod is reloaded with the new ConfigMap/Secret values.
pub async fn run(
    ctx: Arc<NodeContext>,
    pod: Pod,
    signals: Signals,
    config: tokio::sync::watch::Receiver<Option<String>>,
) {
    let host = NodeHost::new(ctx.clone(), pod.clone(), signals.cancel.clone());
    run_on(host, ctx.backoff, pod, signals, config).await
}

/// Runs `pod` on `host`; see [`run`].
async fn run_on<H: PodHost>(
    host: H,
    backoff: BackoffPolicy,
    pod: Pod,
    signals: Signals,
    mut config: tokio::sync::watch::Receiver<Option<String>>,
) {
    let Signals { cancel, terminate } = signals;
    let span = tracing::info_span!("pod", pod = %pod.name(), namespace = %pod.namespace());
    let mut task = PodTask {
        host,
        backoff: Backoff::new(backoff),
        status: pod.status.clone(),
        version: config.clone(),
        pod,
        pull_failed: None,
    };
    let mut state = State::Pulling;
    let mut terminated = false;
    loop {
        let started = state.started_component().cloned();
        let serving: Option<H::Http> = match &state {
            State::Serving { http, .. } => Some(H::Http::clone(http)),
            _ => None,
        };
        let step = tracing::Instrument::instrument(task.step(state), span.clone());
        state = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = terminate.cancelled(), if !terminated => {
                terminated = true;
                let drain = tracing::Instrument::instrument(task.drain(serving), span.clone());
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    () = drain => State::Finished,
                }
            }
            next = step => next,
            changed = config.changed(), if started.is_some() => match (changed, started) {
                (Ok(()), Some(component)) => task.reload(component),
                // The manager dropped this pod (deleted or moved away) as it cancelled it: stop
                // here too. Waiting forever would skip the cleanup below (emptyDirs, secret files).
                (Err(_), _) => break,
                (Ok(()), None) => std::future::pending().await,
            },
        };
    }
    task.host.stopped();
    tracing::info!(pod = %task.pod.name(), "pod stopped on this node");
}

impl<H: PodHost> PodTask<H> {
    async fn step(&mut self, state: State<H>) -> State<H> {
        match state {
            State::Pulling => self.pull().await,
            State::Starting(component) => self.start(component).await,
            State::Serving { http, component } => self.serve(http, component).await,
            State::Finished => std::future::pending().await,
            State::Running {
                command,
                component,
                started,
            } => self.run_command(command, component, started).await,
            State::BackOff { until, then } => {
                if let Some(message) = self.pull_failed.take() {
                    // ErrImagePull for the first half of the wait, then ImagePullBackOff.
                    let half = until - until.saturating_duration_since(Instant::now()) / 2;
                    tokio::time::sleep_until(half).await;
                    let text = format!("Back-off pulling {}: {message}", self.pod.spec.component);
                    self.host.event(EventType::Normal, "BackOff", text.clone());
                    self.set(
                        PodPhase::Pending,
                        false,
                        Some(IMAGE_PULL_BACK_OFF),
                        Some(text),
                    );
                }
                tokio::time::sleep_until(until).await;
                self.status.restart_count += 1;
                *then
            }
        }
    }

    /// A terminating pod: serves what is still routed to it while the gateways drop it, leaves
    /// this node's routes, finishes its in-flight requests (up to its grace period), and is
    /// reported stopped (the control plane then deletes it).
    async fn drain(&mut self, serving: Option<H::Http>) {
        let grace = self.pod.spec.termination_grace_period();
        let started = Instant::now();
        if let Some(http) = serving {
            tokio::time::sleep(ENDPOINT_PROPAGATION.min(grace)).await;
            self.host.route(None);
            let deadline = started + grace;
            while self.host.in_flight(&http) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let left = self.host.in_flight(&http);
            if left > 0 {
                tracing::warn!(left, ?grace, "grace period over with requests in flight");
            }
        } else {
            self.host.route(None);
        }
        tracing::info!(elapsed = ?started.elapsed(), "pod drained");
        self.host.event(
            EventType::Normal,
            "Killing",
            format!(
                "stopped after draining its requests (grace period {}s)",
                grace.as_secs()
            ),
        );
        self.set(
            PodPhase::Succeeded,
            false,
            Some(TERMINATED),
            Some("terminated: drained and stopped".into()),
        );
    }

    async fn pull(&mut self) -> State<H> {
        // A pull retried after a failure keeps showing the failure (as kubelet does).
        if !matches!(
            self.status.reason.as_deref(),
            Some(ERR_IMAGE_PULL | IMAGE_PULL_BACK_OFF)
        ) {
            self.set(PodPhase::Pending, false, Some("ContainerCreating"), None);
        }
        let component = self.pod.spec.component.clone();
        if let wasmpod_api::ComponentRef::Path(path) = &component {
            let message = format!("component {path:?} is not a digest or an oci:// reference");
            return self.fail_start(StartFailure::InvalidComponent(message), State::Pulling);
        }
        match self.host.load(&component).await {
            Ok(component) => State::Starting(component),
            Err(failure) => self.fail_start(failure, State::Pulling),
        }
    }

    async fn start(&mut self, component: H::Component) -> State<H> {
        if let (ComponentWorld::Command, Some(field)) =
            (self.host.world(&component), http_only_field(&self.pod))
        {
            let message = format!(
                "the pod spec sets {field}, which only an HTTP pod has, but its component is a \
                 command: expected an export of wasi:http/incoming-handler@0.2.x, found \
                 wasi:cli/run@0.2.x"
            );
            return self.fail_start(
                StartFailure::WrongWorld(message),
                State::Starting(component),
            );
        }
        let version = self.version.borrow().clone();
        let spec = match self.host.resolve(version).await {
            Ok(spec) => spec,
            // Deleted while this node's watch lags behind: wait for the manager to stop the task.
            Err(StartFailure::PodDeleted(_)) => return State::Finished,
            Err(failure) => return self.fail_start(failure, State::Starting(component)),
        };
        match self.host.world(&component) {
            ComponentWorld::Http => match self.host.http_pod(&component, spec) {
                Ok(http) => {
                    self.host.route(Some(&http));
                    self.status.start_time = Some(Utc::now());
                    // With a readiness probe the pod earns its traffic; without one it has it now.
                    let ready = self.pod.spec.readiness_probe.is_none();
                    self.set(PodPhase::Running, ready, None, None);
                    self.host
                        .event(EventType::Normal, "Started", "serving requests".into());
                    tracing::info!("serving");
                    State::Serving { http, component }
                }
                Err(failure) => self.fail_start(failure, State::Starting(component)),
            },
            ComponentWorld::Command => match self.host.command_pod(&component, spec) {
                Ok(command) => {
                    self.status.start_time = Some(Utc::now());
                    self.host
                        .event(EventType::Normal, "Started", "command started".into());
                    self.set(PodPhase::Running, true, None, None);
                    State::Running {
                        command,
                        component,
                        started: Instant::now(),
                    }
                }
                Err(failure) => self.fail_start(failure, State::Starting(component)),
            },
        }
    }

    async fn run_command(
        &mut self,
        command: H::Command,
        component: H::Component,
        started: Instant,
    ) -> State<H> {
        let span = crate::command_span::run(&self.pod, self.status.restart_count);
        let exit =
            tracing::Instrument::instrument(self.host.run_command(&command), span.clone()).await;
        let (reason, exit_code, message) = match &exit {
            CommandExit::Exited(0) => ("Completed", Some(0), "exited with code 0".to_string()),
            CommandExit::Exited(code) => ("Error", Some(*code), format!("exited with code {code}")),
            CommandExit::Trapped(trap) => (START_TRAP, None, format!("in wasi:cli/run: {trap}")),
        };
        crate::command_span::record_exit(&span, &exit, reason);
        drop(span);
        if reason == START_TRAP {
            self.host
                .event(EventType::Warning, START_TRAP, message.clone());
        }
        let succeeded = matches!(exit, CommandExit::Exited(0));
        tracing::info!(reason, ?exit_code, "command pod stopped");
        self.status.last_termination = Some(Termination {
            reason: reason.to_string(),
            exit_code,
            finished_at: Utc::now(),
        });
        let restart = match self.pod.spec.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !succeeded,
            RestartPolicy::Never => false,
        };
        if !restart {
            let phase = if succeeded {
                PodPhase::Succeeded
            } else {
                PodPhase::Failed
            };
            self.set(phase, false, Some(reason), Some(message));
            return State::Finished;
        }
        let delay = self.backoff.after_crash(started);
        let until = Instant::now() + delay;
        let text = format!("{message}; restarting in {} ms", delay.as_millis());
        self.host.event(EventType::Warning, "BackOff", text.clone());
        // A trap says so while the pod waits to restart; an exit is a plain crash loop.
        let waiting = if reason == START_TRAP {
            START_TRAP
        } else {
            "CrashLoopBackOff"
        };
        self.set(PodPhase::Running, false, Some(waiting), Some(text));
        State::BackOff {
            until,
            then: Box::new(State::Starting(component)),
        }
    }

    /// A ConfigMap or Secret the pod uses changed: start it again with the new values (an HTTP
    /// pod's next instances see them; a command pod is restarted).
    fn reload(&mut self, component: H::Component) -> State<H> {
        let message = "a ConfigMap or Secret it uses changed; reloading";
        tracing::info!("{message}");
        self.host
            .event(EventType::Normal, "ConfigChanged", message.into());
        if self.host.world(&component) == ComponentWorld::Command {
            self.status.restart_count += 1;
            self.status.last_termination = Some(Termination {
                reason: "ConfigChanged".into(),
                exit_code: None,
                finished_at: Utc::now(),
            });
        }
        State::Starting(component)
    }

    /// Runs the probes of a serving HTTP pod: readiness moves it in and out of its services'
    /// endpoints, failing liveness restarts it.
    async fn serve(&mut self, http: H::Http, component: H::Component) -> State<H> {
        let mut readiness = self.pod.spec.readiness_probe.clone().map(ProbeRunner::new);
        let mut liveness = self.pod.spec.liveness_probe.clone().map(ProbeRunner::new);
        if readiness.is_none() && liveness.is_none() {
            return std::future::pending().await;
        }
        let started = Instant::now();
        loop {
            let next = [readiness.as_ref(), liveness.as_ref()]
                .into_iter()
                .flatten()
                .map(|r| r.next)
                .min();
            if let Some(next) = next {
                tokio::time::sleep_until(next).await;
            }
            if let Some(r) = readiness.as_mut().filter(|r| r.next <= Instant::now()) {
                let path = r.probe.http_get.path.clone();
                let ok = self.host.probe(&http, &path, r.timeout());
                if let Some(ready) = r.run(ok).await {
                    let (reason, message) = if ready {
                        (None, None)
                    } else {
                        let text = format!(
                            "readiness probe {} failed {} times",
                            r.probe.http_get.path,
                            r.failures()
                        );
                        self.host
                            .event(EventType::Warning, "Unhealthy", text.clone());
                        (Some("NotReady"), Some(text))
                    };
                    self.set(PodPhase::Running, ready, reason, message);
                }
            }
            if let Some(l) = liveness.as_mut().filter(|l| l.next <= Instant::now()) {
                let path = l.probe.http_get.path.clone();
                let ok = self.host.probe(&http, &path, l.timeout());
                if l.run(ok).await == Some(false) {
                    let text = format!(
                        "liveness probe {} failed {} times; restarting",
                        l.probe.http_get.path,
                        l.failures()
                    );
                    tracing::warn!(%text, "pod unhealthy");
                    self.host.event(EventType::Warning, "Killing", text.clone());
                    self.host.log(&format!("wasmpod: {text}"));
                    self.host.route(None);
                    self.status.last_termination = Some(Termination {
                        reason: "LivenessProbeFailed".into(),
                        exit_code: None,
                        finished_at: Utc::now(),
                    });
                    self.set(
                        PodPhase::Running,
                        false,
                        Some("LivenessProbeFailed"),
                        Some(text),
                    );
                    let delay = self.backoff.after_crash(started);
                    return State::BackOff {
                        until: Instant::now() + delay,
                        then: Box::new(State::Starting(component)),
                    };
                }
            }
        }
    }

    /// A pod that cannot start waits and tries again, like a container image that fails to pull.
    fn fail_start(&mut self, failure: StartFailure, retry: State<H>) -> State<H> {
        let reason = failure.reason();
        let message = failure.to_string();
        if matches!(failure, StartFailure::ImagePull(_)) {
            self.pull_failed = Some(message.clone());
        }
        tracing::warn!(reason, %message, "pod cannot start");
        self.host.log(&format!("wasmpod: {reason}: {message}"));
        // A repeat bumps the event's count (the registry dedups by reason and message).
        self.host.event(
            EventType::Warning,
            reason,
            format!("cannot start: {message}"),
        );
        self.set(PodPhase::Pending, false, Some(reason), Some(message));
        let delay = self.backoff.after_crash(Instant::now());
        State::BackOff {
            until: Instant::now() + delay,
            then: Box::new(retry),
        }
    }

    /// Records the pod's status; the host sends it to the control plane.
    fn set(&mut self, phase: PodPhase, ready: bool, reason: Option<&str>, message: Option<String>) {
        if ready && !self.status.ready {
            self.status.ready_since = Some(Utc::now());
        } else if !ready {
            self.status.ready_since = None;
        }
        self.status.phase = phase;
        self.status.ready = ready;
        self.status.reason = reason.map(str::to_string);
        self.status.message = message;
        self.host.report(&self.status);
    }
}

/// The reason of a command pod whose `wasi:cli/run` trapped (the message names the trap).
const START_TRAP: &str = "StartTrap";

/// The first field of the pod's spec that only an HTTP pod has, if it sets one.
fn http_only_field(pod: &Pod) -> Option<&'static str> {
    let spec = &pod.spec;
    [
        ("readinessProbe", spec.readiness_probe.is_some()),
        ("livenessProbe", spec.liveness_probe.is_some()),
        ("instanceReuse", spec.instance_reuse.is_some()),
        ("containerConcurrency", spec.container_concurrency.is_some()),
        ("maxRequestBodyBytes", spec.max_request_body_bytes.is_some()),
    ]
    .into_iter()
    .find_map(|(field, set)| set.then_some(field))
}

#[cfg(test)]
#[path = "pod_task_tests.rs"]
mod tests;
