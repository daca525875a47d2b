//! One pod's life on this node, as an explicit state machine:
//! Pulling -> Starting -> Serving (HTTP) | Running (command) -> BackOff -> Starting ... -> Finished.
//! Every transition is reported to the control plane as the pod's status, in the background:
//! with the control plane down the pod still restarts, on the config it last had.

use crate::backoff::Backoff;
use crate::components::Loaded;
use crate::context::NodeContext;
use crate::pod_config::{ConfigError, PodConfig};
use crate::probes::ProbeRunner;
use crate::status_report::StatusReporter;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wasmpod_api::resolved::ResolvedPodConfig;
use wasmpod_api::EventType;
use wasmpod_api::{Kind, ObjectKey, Pod, PodPhase, PodStatus, RestartPolicy, Termination};
use wasmpod_runtime::{CommandExit, CommandPod, ComponentWorld, HttpPod, PodRuntimeSpec};

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

enum State {
    Pulling,
    Starting(Loaded),
    Serving {
        http: HttpPod,
        loaded: Loaded,
    },
    Running {
        command: CommandPod,
        loaded: Loaded,
        started: Instant,
    },
    BackOff {
        until: Instant,
        then: Box<State>,
    },
    Finished,
}

struct PodTask {
    ctx: Arc<NodeContext>,
    pod: Pod,
    key: ObjectKey,
    status: PodStatus,
    reporter: StatusReporter,
    backoff: Backoff,
    /// The last resolved config, reused while its version is current.
    config: PodConfig,
    /// The pod's config version as the node last saw it.
    version: tokio::sync::watch::Receiver<Option<String>>,
}

/// Why a pod cannot start now: a status reason and a message.
type StartError = (&'static str, String);

/// Runs `pod` until `cancel` (the pod was deleted or moved away). `config` carries the pod's
/// config version: when it changes, the pod is reloaded with the new ConfigMap/Secret values.
pub async fn run(
    ctx: Arc<NodeContext>,
    pod: Pod,
    cancel: CancellationToken,
    mut config: tokio::sync::watch::Receiver<Option<String>>,
) {
    let key = ObjectKey::new(Kind::Pod, pod.namespace(), pod.name());
    let span = tracing::info_span!("pod", pod = %key.name, namespace = %key.namespace);
    let mut task = PodTask {
        backoff: Backoff::new(ctx.backoff),
        status: pod.status.clone(),
        reporter: StatusReporter::spawn(
            ctx.client.clone(),
            key.clone(),
            pod.status.clone(),
            cancel.clone(),
        ),
        config: PodConfig::default(),
        version: config.clone(),
        ctx: ctx.clone(),
        pod,
        key: key.clone(),
    };
    let mut state = State::Pulling;
    loop {
        let reloadable = matches!(state, State::Serving { .. } | State::Running { .. });
        let loaded = match &state {
            State::Serving { loaded, .. } | State::Running { loaded, .. } => Some(loaded.clone()),
            _ => None,
        };
        let step = tracing::Instrument::instrument(task.step(state), span.clone());
        state = tokio::select! {
            _ = cancel.cancelled() => break,
            next = step => next,
            changed = config.changed(), if reloadable => match (changed, loaded) {
                (Ok(()), Some(loaded)) => task.reload(loaded).await,
                // The manager dropped this pod (deleted or moved away) as it cancelled it: stop
                // here too. Waiting forever would skip the cleanup below (emptyDirs, secret files).
                (Err(_), _) => break,
                (Ok(()), None) => std::future::pending().await,
            },
        };
    }
    ctx.local.remove(&key);
    ctx.dirs
        .remove_pod(task.pod.metadata.uid.as_deref().unwrap_or(&key.name));
    tracing::info!(pod = %key.name, "pod stopped on this node");
}

impl PodTask {
    async fn step(&mut self, state: State) -> State {
        match state {
            State::Pulling => self.pull().await,
            State::Starting(loaded) => self.start(loaded).await,
            State::Serving { http, loaded } => self.serve(http, loaded).await,
            State::Finished => std::future::pending().await,
            State::Running {
                command,
                loaded,
                started,
            } => self.run_command(command, loaded, started).await,
            State::BackOff { until, then } => {
                tokio::time::sleep_until(until).await;
                self.status.restart_count += 1;
                *then
            }
        }
    }

    async fn pull(&mut self) -> State {
        self.set(PodPhase::Pending, false, Some("ContainerCreating"), None);
        let Some(digest) = self
            .pod
            .spec
            .component_digest()
            .map(|d| format!("sha256:{d}"))
        else {
            return self
                .fail_start(
                    "InvalidComponent",
                    format!("component {:?} is not a digest", self.pod.spec.component),
                    State::Pulling,
                )
                .await;
        };
        match self.ctx.components.load(&digest).await {
            Ok(loaded) => State::Starting(loaded),
            Err(e) => {
                self.fail_start("ComponentError", e.to_string(), State::Pulling)
                    .await
            }
        }
    }

    fn runtime_spec(
        &self,
        resolved: ResolvedPodConfig,
        mounts: Vec<wasmpod_runtime::Mount>,
    ) -> PodRuntimeSpec {
        let spec = &self.pod.spec;
        let mut runtime = PodRuntimeSpec::new(self.key.name.clone());
        runtime.env = resolved.env;
        runtime.config = resolved.config;
        runtime.mounts = mounts;
        runtime.args = spec.args.clone();
        runtime.memory_limit_bytes = spec.resources.limits.memory_bytes();
        runtime.request_timeout = spec
            .request_timeout_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        runtime.allowed_outbound_hosts = spec.allowed_outbound_hosts.clone();
        runtime.max_requests_per_instance = spec.instance_reuse.map_or(1, |r| r.max_requests);
        runtime.container_concurrency = spec.container_concurrency;
        runtime.outbound = Some((self.ctx.outbound)(&self.key.namespace, &self.key.name));
        runtime
    }

    /// The pod's env, config and volumes (resolved by the control plane, or the last resolved
    /// config while it is current or the control plane unreachable), laid out on disk.
    async fn resolve(&mut self) -> Result<PodRuntimeSpec, StartError> {
        let version = self.version.borrow().clone();
        let (resolved, source) = self
            .config
            .get(&self.ctx.client, &self.key, &self.pod.spec, version)
            .await
            .map_err(|e| match e {
                ConfigError::Invalid(m) => ("CreateContainerConfigError", m),
                ConfigError::PodDeleted(m) => ("PodDeleted", m),
                ConfigError::Unavailable(m) => ("ConfigUnavailable", m),
            })?;
        tracing::debug!(?source, "pod config resolved");
        let uid = self
            .pod
            .metadata
            .uid
            .clone()
            .unwrap_or_else(|| self.key.name.clone());
        let mounts = crate::volumes::prepare(
            &self.ctx.dirs,
            &self.key.namespace,
            &uid,
            &self.pod.spec,
            &resolved,
        )
        .map_err(|e| ("CreateContainerError", e))?;
        Ok(self.runtime_spec(resolved, mounts))
    }

    async fn start(&mut self, loaded: Loaded) -> State {
        let logs = self.ctx.logs(&self.key);
        let spec = match self.resolve().await {
            Ok(spec) => spec,
            // Deleted while this node's watch lags behind: wait for the manager to stop the task.
            Err(("PodDeleted", _)) => return State::Finished,
            Err((reason, message)) => {
                return self
                    .fail_start(reason, message, State::Starting(loaded))
                    .await
            }
        };
        match loaded.world {
            ComponentWorld::Http => {
                match self.ctx.runtime.http_pod(&loaded.component, spec, logs) {
                    Ok(http) => {
                        self.ctx.local.insert(self.key.clone(), http.clone());
                        self.status.start_time = Some(Utc::now());
                        // With a readiness probe the pod earns its traffic; without one it has it now.
                        let ready = self.pod.spec.readiness_probe.is_none();
                        self.set(PodPhase::Running, ready, None, None);
                        self.ctx
                            .event(&self.key, EventType::Normal, "Started", "serving requests");
                        tracing::info!("serving");
                        State::Serving { http, loaded }
                    }
                    Err(e) => {
                        self.fail_start("ComponentError", e.to_string(), State::Starting(loaded))
                            .await
                    }
                }
            }
            ComponentWorld::Command => {
                match self.ctx.runtime.command_pod(&loaded.component, spec, logs) {
                    Ok(command) => {
                        self.status.start_time = Some(Utc::now());
                        self.ctx
                            .event(&self.key, EventType::Normal, "Started", "command started");
                        self.set(PodPhase::Running, true, None, None);
                        State::Running {
                            command,
                            loaded,
                            started: Instant::now(),
                        }
                    }
                    Err(e) => {
                        self.fail_start("ComponentError", e.to_string(), State::Starting(loaded))
                            .await
                    }
                }
            }
        }
    }

    async fn run_command(
        &mut self,
        command: CommandPod,
        loaded: Loaded,
        started: Instant,
    ) -> State {
        let exit = command.run().await;
        let (reason, exit_code, message) = match &exit {
            CommandExit::Exited(0) => ("Completed", Some(0), "exited with code 0".to_string()),
            CommandExit::Exited(code) => ("Error", Some(*code), format!("exited with code {code}")),
            CommandExit::Trapped(trap) => ("Trapped", None, format!("trapped: {trap}")),
        };
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
        self.ctx
            .event(&self.key, EventType::Warning, "BackOff", text.clone());
        self.set(
            PodPhase::Running,
            false,
            Some("CrashLoopBackOff"),
            Some(text),
        );
        State::BackOff {
            until,
            then: Box::new(State::Starting(loaded)),
        }
    }

    /// A ConfigMap or Secret the pod uses changed: start it again with the new values (an HTTP
    /// pod's next instances see them; a command pod is restarted).
    async fn reload(&mut self, loaded: Loaded) -> State {
        let message = "a ConfigMap or Secret it uses changed; reloading";
        tracing::info!("{message}");
        self.ctx
            .event(&self.key, EventType::Normal, "ConfigChanged", message);
        if loaded.world == ComponentWorld::Command {
            self.status.restart_count += 1;
            self.status.last_termination = Some(Termination {
                reason: "ConfigChanged".into(),
                exit_code: None,
                finished_at: Utc::now(),
            });
        }
        State::Starting(loaded)
    }

    /// Runs the probes of a serving HTTP pod: readiness moves it in and out of its services'
    /// endpoints, failing liveness restarts it.
    async fn serve(&mut self, http: HttpPod, loaded: Loaded) -> State {
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
                if let Some(ready) = r.run(&http).await {
                    let (reason, message) = if ready {
                        (None, None)
                    } else {
                        let text = format!(
                            "readiness probe {} failed {} times",
                            r.probe.http_get.path,
                            r.failures()
                        );
                        self.ctx
                            .event(&self.key, EventType::Warning, "Unhealthy", text.clone());
                        (Some("NotReady"), Some(text))
                    };
                    self.set(PodPhase::Running, ready, reason, message);
                }
            }
            if let Some(l) = liveness.as_mut().filter(|l| l.next <= Instant::now()) {
                if l.run(&http).await == Some(false) {
                    let text = format!(
                        "liveness probe {} failed {} times; restarting",
                        l.probe.http_get.path,
                        l.failures()
                    );
                    tracing::warn!(%text, "pod unhealthy");
                    self.ctx
                        .event(&self.key, EventType::Warning, "Killing", text.clone());
                    self.ctx
                        .logs(&self.key)
                        .append_line(&format!("wasmpod: {text}"));
                    self.ctx.local.remove(&self.key);
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
                        then: Box::new(State::Starting(loaded)),
                    };
                }
            }
        }
    }

    /// A pod that cannot start waits and tries again, like a container image that fails to pull.
    async fn fail_start(&mut self, reason: &str, message: String, retry: State) -> State {
        tracing::warn!(reason, %message, "pod cannot start");
        self.ctx
            .logs(&self.key)
            .append_line(&format!("wasmpod: {reason}: {message}"));
        self.set(PodPhase::Pending, false, Some(reason), Some(message));
        let delay = self.backoff.after_crash(Instant::now());
        State::BackOff {
            until: Instant::now() + delay,
            then: Box::new(retry),
        }
    }

    /// Records the pod's status; the reporter sends it to the control plane.
    fn set(&mut self, phase: PodPhase, ready: bool, reason: Option<&str>, message: Option<String>) {
        self.status.phase = phase;
        self.status.ready = ready;
        self.status.reason = reason.map(str::to_string);
        self.status.message = message;
        self.reporter.report(&self.status);
    }
}
