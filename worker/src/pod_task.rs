//! One pod's life on this node, as an explicit state machine:
//! Pulling -> Starting -> Serving (HTTP) | Running (command) -> BackOff -> Starting ... -> Finished.
//! Every transition is reported to the control plane as the pod's status.

use crate::backoff::Backoff;
use crate::components::Loaded;
use crate::context::NodeContext;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{Kind, ObjectKey, Pod, PodPhase, PodStatus, RestartPolicy, Termination};
use wasmpod_runtime::{CommandExit, CommandPod, ComponentWorld, PodRuntimeSpec};

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

enum State {
    Pulling,
    Starting(Loaded),
    Serving,
    Running { command: CommandPod, loaded: Loaded, started: Instant },
    BackOff { delay: Duration, then: Box<State> },
    Finished,
}

struct PodTask {
    ctx: Arc<NodeContext>,
    pod: Pod,
    key: ObjectKey,
    status: PodStatus,
    reported: Option<PodStatus>,
    backoff: Backoff,
}

/// Runs `pod` until `cancel` (the pod was deleted or moved away).
pub async fn run(ctx: Arc<NodeContext>, pod: Pod, cancel: CancellationToken) {
    let key = ObjectKey::new(Kind::Pod, pod.namespace(), pod.name());
    let span = tracing::info_span!("pod", pod = %key.name, namespace = %key.namespace);
    let mut task = PodTask {
        backoff: Backoff::new(ctx.backoff),
        status: pod.status.clone(),
        reported: Some(pod.status.clone()),
        ctx: ctx.clone(),
        pod,
        key: key.clone(),
    };
    let mut state = State::Pulling;
    loop {
        let step = tracing::Instrument::instrument(task.step(state), span.clone());
        state = tokio::select! {
            _ = cancel.cancelled() => break,
            next = step => next,
        };
    }
    ctx.local.remove(&key);
    tracing::info!(pod = %key.name, "pod stopped on this node");
}

impl PodTask {
    async fn step(&mut self, state: State) -> State {
        match state {
            State::Pulling => self.pull().await,
            State::Starting(loaded) => self.start(loaded).await,
            State::Serving | State::Finished => std::future::pending().await,
            State::Running { command, loaded, started } => self.run_command(command, loaded, started).await,
            State::BackOff { delay, then } => {
                tokio::time::sleep(delay).await;
                self.status.restart_count += 1;
                *then
            }
        }
    }

    async fn pull(&mut self) -> State {
        self.set(PodPhase::Pending, false, Some("ContainerCreating"), None).await;
        let Some(digest) = self.pod.spec.component_digest().map(|d| format!("sha256:{d}")) else {
            return self.fail_start("InvalidComponent", format!("component {:?} is not a digest", self.pod.spec.component), State::Pulling).await;
        };
        match self.ctx.components.load(&digest).await {
            Ok(loaded) => State::Starting(loaded),
            Err(e) => self.fail_start("ComponentError", e.to_string(), State::Pulling).await,
        }
    }

    fn runtime_spec(&self) -> PodRuntimeSpec {
        let spec = &self.pod.spec;
        let mut runtime = PodRuntimeSpec::new(self.key.name.clone());
        runtime.env = spec.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect();
        runtime.args = spec.args.clone();
        runtime.memory_limit_bytes = spec.resources.limits.memory_bytes();
        runtime.request_timeout = spec.request_timeout_seconds.map(Duration::from_secs).unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        runtime.allowed_outbound_hosts = spec.allowed_outbound_hosts.clone();
        runtime.outbound = Some((self.ctx.outbound)(&self.key.namespace));
        runtime
    }

    async fn start(&mut self, loaded: Loaded) -> State {
        let logs = self.ctx.logs(&self.key);
        match loaded.world {
            ComponentWorld::Http => match self.ctx.runtime.http_pod(&loaded.component, self.runtime_spec(), logs) {
                Ok(http) => {
                    self.ctx.local.insert(self.key.clone(), http);
                    self.status.start_time = Some(Utc::now());
                    self.set(PodPhase::Running, true, None, None).await;
                    tracing::info!("serving");
                    State::Serving
                }
                Err(e) => self.fail_start("ComponentError", e.to_string(), State::Starting(loaded)).await,
            },
            ComponentWorld::Command => match self.ctx.runtime.command_pod(&loaded.component, self.runtime_spec(), logs) {
                Ok(command) => {
                    self.status.start_time = Some(Utc::now());
                    self.set(PodPhase::Running, true, None, None).await;
                    State::Running { command, loaded, started: Instant::now() }
                }
                Err(e) => self.fail_start("ComponentError", e.to_string(), State::Starting(loaded)).await,
            },
        }
    }

    async fn run_command(&mut self, command: CommandPod, loaded: Loaded, started: Instant) -> State {
        let exit = command.run().await;
        let (reason, exit_code, message) = match &exit {
            CommandExit::Exited(0) => ("Completed", Some(0), "exited with code 0".to_string()),
            CommandExit::Exited(code) => ("Error", Some(*code), format!("exited with code {code}")),
            CommandExit::Trapped(trap) => ("Trapped", None, format!("trapped: {trap}")),
        };
        let succeeded = matches!(exit, CommandExit::Exited(0));
        tracing::info!(reason, ?exit_code, "command pod stopped");
        self.status.last_termination = Some(Termination { reason: reason.to_string(), exit_code, finished_at: Utc::now() });
        let restart = match self.pod.spec.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !succeeded,
            RestartPolicy::Never => false,
        };
        if !restart {
            let phase = if succeeded { PodPhase::Succeeded } else { PodPhase::Failed };
            self.set(phase, false, Some(reason), Some(message)).await;
            return State::Finished;
        }
        let delay = self.backoff.after_crash(started);
        let text = format!("{message}; restarting in {} ms", delay.as_millis());
        self.set(PodPhase::Running, false, Some("CrashLoopBackOff"), Some(text)).await;
        State::BackOff { delay, then: Box::new(State::Starting(loaded)) }
    }

    /// A pod that cannot start waits and tries again, like a container image that fails to pull.
    async fn fail_start(&mut self, reason: &str, message: String, retry: State) -> State {
        tracing::warn!(reason, %message, "pod cannot start");
        self.ctx.logs(&self.key).append_line(&format!("wasmpod: {reason}: {message}"));
        self.set(PodPhase::Pending, false, Some(reason), Some(message)).await;
        let delay = self.backoff.after_crash(Instant::now());
        State::BackOff { delay, then: Box::new(retry) }
    }

    async fn set(&mut self, phase: PodPhase, ready: bool, reason: Option<&str>, message: Option<String>) {
        self.status.phase = phase;
        self.status.ready = ready;
        self.status.reason = reason.map(str::to_string);
        self.status.message = message;
        if self.reported.as_ref() == Some(&self.status) {
            return;
        }
        for attempt in 0..3u32 {
            match self.ctx.client.put_status(Kind::Pod, &self.key.namespace, &self.key.name, &self.status).await {
                Ok(()) => {
                    self.reported = Some(self.status.clone());
                    return;
                }
                Err(e) if e.is_not_found() => return,
                Err(error) => {
                    tracing::warn!(%error, attempt, "cannot report pod status");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }
}
