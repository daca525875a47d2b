//! `wasmpod`: the command line — run a cluster (`up`, `server`, `worker`) and drive it
//! (`apply`, `get`, `describe`, `delete`, `logs`, `scale`, `cordon`, `drain` ...).

mod commands;
mod config;
mod global_flags;
mod kinds;
mod manifests;
mod output;
mod telemetry;

use clap::Parser;
use std::process::ExitCode;

// The gateway allocates and frees per request (stores, bodies, channels); glibc malloc took about
// a fifth of its CPU on a service call. With mimalloc (bench/results, same machine): instance reuse
// 0.69x axum instead of 0.63x, fresh instances 6.8x `wasmtime serve` instead of 6.0x, 10,000 idle
// pods ready in 31 s instead of 48 s; the price is RSS: 66 MiB idle instead of 20, 623 MiB with
// 10,000 idle pods instead of 477.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With `WASMPOD_EXIT_WITH_PARENT` set (the test harness, a supervisor), the process exits when
/// the one that started it dies, so a killed test run leaves no cluster running behind it.
fn exit_with_parent() {
    #[cfg(unix)]
    if std::env::var_os("WASMPOD_EXIT_WITH_PARENT").is_some() {
        let parent = std::os::unix::process::parent_id();
        let watcher = std::thread::Builder::new()
            .name("parent-watch".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if std::os::unix::process::parent_id() != parent {
                    eprintln!("error: the parent process {parent} is gone; exiting");
                    std::process::exit(1);
                }
            });
        if let Err(error) = watcher {
            eprintln!("warning: cannot watch the parent process: {error}");
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = commands::Cli::parse_from(global_flags::hoist(std::env::args_os().collect()));
    let telemetry = match cli.span_export().and_then(telemetry::init) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    exit_with_parent();
    let result = cli.run().await;
    // The last spans are flushed before the process exits.
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `diff` found a difference: it printed it; exit 1 without an error message.
        Err(error) if error.is::<commands::Differs>() => ExitCode::FAILURE,
        Err(error) => {
            print_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// `error: ...` and its causes, each said once.
fn print_error(error: &anyhow::Error) {
    for line in error_lines(error) {
        eprintln!("{line}");
    }
}

/// The lines of [`print_error`]. The API's not-found message names the object itself
/// (`deployments "web" not found (HTTP 404)`), so it stands alone, without the contexts that
/// named the object again on the way up. A cause whose text the line above already holds (an
/// error that shows its source) is not repeated.
fn error_lines(error: &anyhow::Error) -> Vec<String> {
    let not_found = error
        .chain()
        .filter_map(|e| e.downcast_ref::<wasmpod_api::ClientError>())
        .find(|e| e.is_not_found());
    if let Some(not_found) = not_found {
        return vec![format!("error: {not_found}")];
    }
    let mut lines = vec![format!("error: {error}")];
    let mut above = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !above.contains(&text) {
            lines.push(format!("  caused by: {text}"));
        }
        above = text;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("Connection refused");
        let error = anyhow::Error::new(io)
            .context("tcp connect error")
            .context("cannot reach the API: tcp connect error")
            .context("applying");
        assert_eq!(
            error_lines(&error),
            [
                "error: applying",
                "  caused by: cannot reach the API: tcp connect error",
                "  caused by: Connection refused",
            ]
        );
        let missing = wasmpod_api::ClientError::Api {
            status: 404,
            reason: "NotFound".into(),
            message: r#"deployments "web" not found"#.into(),
        };
        let error = anyhow::Error::new(missing).context("deployment/web");
        assert_eq!(
            error_lines(&error),
            [r#"error: deployments "web" not found (HTTP 404)"#]
        );
    }
}
