//! The span of one run of a command pod (`wasi:cli/run`, from its start to its exit), exported
//! like a request's spans (see `wasmpod_runtime::telemetry`): a trace of its own, with the pod,
//! its namespace, how many times it restarted before this run, and how the run ended (exit code,
//! or the trap). The outgoing calls the guest makes in the run are its children. Disabled, and
//! free, unless the process exports spans.

use tracing::field::Empty;
use tracing::Span;
use wasmpod_api::Pod;
use wasmpod_runtime::telemetry::TARGET;
use wasmpod_runtime::CommandExit;

/// The span of a run of `pod` that starts now, after `restart_count` restarts.
pub fn run(pod: &Pod, restart_count: u32) -> Span {
    tracing::info_span!(
        target: TARGET,
        parent: None,
        "run",
        wasmpod.namespace = %pod.namespace(),
        wasmpod.pod = %pod.name(),
        // As an i64: the exporter would record an unsigned number as text.
        wasmpod.restart_count = i64::from(restart_count),
        wasmpod.reason = Empty,
        process.exit.code = Empty,
        otel.status_code = Empty,
        error.message = Empty,
    )
}

/// Records in `span` how the run ended: its status `reason` (`Completed`, `Error`, `StartTrap`)
/// and the exit code, or the trap; a run that did not exit 0 is an error.
pub fn record_exit(span: &Span, exit: &CommandExit, reason: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("wasmpod.reason", reason);
    match exit {
        CommandExit::Exited(0) => {
            span.record("process.exit.code", 0);
        }
        CommandExit::Exited(code) => {
            span.record("process.exit.code", code);
            span.record("otel.status_code", "ERROR");
            span.record(
                "error.message",
                tracing::field::display(format_args!("exited with code {code}")),
            );
        }
        CommandExit::Trapped(trap) => {
            span.record("otel.status_code", "ERROR");
            span.record("error.message", trap.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::Status;
    use opentelemetry::Value;
    use opentelemetry_sdk::trace::SpanData;
    use wasmpod_runtime::test_support::KeptSpans;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "wasmpod.dev/v1",
            "kind": "Pod",
            "metadata": {"name": "job-1", "namespace": "team"},
            "spec": {"component": format!("sha256:{}", "a".repeat(64))},
        }))
        .expect("a pod")
    }

    /// The span of one run ended by `exit`, as exported, under an outer span (the pod task's).
    fn exported(exit: CommandExit, reason: &str) -> SpanData {
        let ((), spans) = KeptSpans::of(|| {
            let _outer = tracing::info_span!(target: TARGET, "outer").entered();
            let span = run(&pod(), 2);
            record_exit(&span, &exit, reason);
        });
        spans
            .into_iter()
            .find(|s| s.name == "run")
            .expect("the run's span")
    }

    fn attribute(span: &SpanData, key: &str) -> Option<Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    #[test]
    fn a_runs_span_is_a_root_with_the_pod_its_restarts_and_its_exit_code() {
        let span = exported(CommandExit::Exited(3), "Error");
        assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
        assert_eq!(attribute(&span, "wasmpod.namespace"), Some("team".into()));
        assert_eq!(attribute(&span, "wasmpod.pod"), Some("job-1".into()));
        assert_eq!(
            attribute(&span, "wasmpod.restart_count"),
            Some(2_i64.into())
        );
        assert_eq!(attribute(&span, "wasmpod.reason"), Some("Error".into()));
        assert_eq!(attribute(&span, "process.exit.code"), Some(3_i64.into()));
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{:?}",
            span.status
        );

        let span = exported(CommandExit::Exited(0), "Completed");
        assert_eq!(attribute(&span, "process.exit.code"), Some(0_i64.into()));
        assert_eq!(span.status, Status::Unset);
    }

    #[test]
    fn a_trapped_runs_span_says_why() {
        let span = exported(
            CommandExit::Trapped("wasm trap: unreachable".into()),
            "StartTrap",
        );
        assert_eq!(attribute(&span, "process.exit.code"), None);
        assert_eq!(attribute(&span, "wasmpod.reason"), Some("StartTrap".into()));
        assert_eq!(
            attribute(&span, "error.message"),
            Some("wasm trap: unreachable".into())
        );
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{:?}",
            span.status
        );
    }
}
