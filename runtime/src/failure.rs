//! Turning a guest failure, or a component that cannot start, into one short, user-readable line.

use crate::limits::MemoryLimitExceeded;
use std::time::Duration;
use wasmtime::Trap;

/// One line describing why an instance died: a trap, an epoch interrupt, the memory cap.
pub(crate) fn describe(err: &wasmtime::Error, timeout: Option<Duration>) -> String {
    if let Some(limit) = find::<MemoryLimitExceeded>(err) {
        return format!("component trapped: {limit}");
    }
    match find::<Trap>(err) {
        Some(Trap::Interrupt) => match timeout {
            Some(t) => format!("component timed out: request exceeded {t:?}"),
            None => "component interrupted".to_string(),
        },
        Some(Trap::UnreachableCodeReached) => {
            "component trapped: wasm `unreachable` executed (guest panic or abort)".to_string()
        }
        Some(trap) => format!("component trapped: {trap}"),
        None => format!("component failed: {}", first_line(err)),
    }
}

fn find<E: std::error::Error + Send + Sync + 'static>(err: &wasmtime::Error) -> Option<&E> {
    err.downcast_ref::<E>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<E>()))
}

/// The causes of `err`, outermost first, each on one line, without wasmtime's backtrace context
/// (whose first line alone says nothing: "error while executing at wasm backtrace:").
fn first_line(err: &wasmtime::Error) -> String {
    let causes: Vec<String> = err
        .chain()
        .filter_map(|cause| cause.to_string().lines().next().map(str::to_string))
        .filter(|line| !line.starts_with("error while executing at wasm backtrace"))
        .collect();
    if causes.is_empty() {
        return format!("{err:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
    }
    causes.join(": ")
}

/// `error` and its causes, outermost first, on one line: `a: b: c`. A cause whose text its
/// outer error already shows is left out (errors that print their source inline).
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        let text = text.lines().next().unwrap_or_default();
        if !text.is_empty() && !line.contains(text) {
            line.push_str(": ");
            line.push_str(text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("compiling component x")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("linking: {0}")]
    struct Inline(#[source] std::io::Error);

    #[test]
    fn causes_name_every_cause_once() {
        let inner = || std::io::Error::other("type mismatch at offset 12");
        assert_eq!(
            causes(&Outer(inner())),
            "compiling component x: type mismatch at offset 12"
        );
        assert_eq!(
            causes(&Inline(inner())),
            "linking: type mismatch at offset 12"
        );
    }
}
