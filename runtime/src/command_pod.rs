//! Command pods: run a `wasi:cli/command` component to completion in a fresh store.

use crate::admission::PodAdmission;
use crate::failure;
use crate::state::{PodState, PodTemplate};
use std::sync::Arc;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::I32Exit;

/// How a command run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandExit {
    /// `main` returned (0), returned an error (1), or the guest called `exit(n)`.
    Exited(i32),
    /// The guest trapped (panic, memory limit) or could not start; a short description.
    Trapped(String),
}

/// A command pod, ready to run (and to run again after it exits).
#[derive(Clone)]
pub struct CommandPod {
    inner: Arc<Inner>,
}

struct Inner {
    pre: CommandPre<PodState>,
    template: PodTemplate,
    /// Its instance's place in the node's pool.
    admission: Arc<PodAdmission>,
}

impl CommandPod {
    pub(crate) fn new(
        pre: CommandPre<PodState>,
        template: PodTemplate,
        admission: Arc<PodAdmission>,
    ) -> CommandPod {
        CommandPod {
            inner: Arc::new(Inner {
                pre,
                template,
                admission,
            }),
        }
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.inner.template.name
    }

    /// The pod's log buffer.
    pub fn logs(&self) -> &crate::PodLogs {
        &self.inner.template.logs
    }

    /// Runs `wasi:cli/run` in a fresh instance until it ends. The guest yields to the executor
    /// every epoch tick; dropping the future stops the guest and frees its instance.
    pub async fn run(&self) -> CommandExit {
        let inner = &self.inner;
        // Its instance takes pool slots like any other: it waits its turn for them.
        let permit = match inner.admission.acquire().await {
            Ok(permit) => Ok(permit),
            Err(refused) => Err(CommandExit::Trapped(format!(
                "component failed to start: no free instance slot on this node ({refused})"
            ))),
        };
        let started = permit.and_then(|permit| {
            inner
                .template
                .new_store(inner.pre.engine(), None)
                .map(|store| (store, permit))
                .map_err(|e| CommandExit::Trapped(format!("component failed to start: {e:#}")))
        });
        let exit = match started {
            Err(exit) => exit,
            Ok((mut store, permit)) => {
                let result = async {
                    let command = inner.pre.instantiate_async(&mut store).await?;
                    command.wasi_cli_run().call_run(&mut store).await
                }
                .await;
                drop(store);
                drop(permit);
                match result {
                    Ok(Ok(())) => CommandExit::Exited(0),
                    Ok(Err(())) => CommandExit::Exited(1),
                    Err(e) => match e.downcast_ref::<I32Exit>() {
                        Some(exit) => CommandExit::Exited(exit.0),
                        None => {
                            tracing::debug!(pod = %inner.template.name, error = ?e, "guest failure");
                            CommandExit::Trapped(failure::describe(&e, None))
                        }
                    },
                }
            }
        };
        let line = match &exit {
            CommandExit::Exited(code) => format!("component exited with code {code}"),
            CommandExit::Trapped(msg) => msg.clone(),
        };
        inner.template.logs.append_line(&line);
        tracing::info!(pod = %inner.template.name, "{line}");
        exit
    }
}
