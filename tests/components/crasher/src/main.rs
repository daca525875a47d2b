//! A `wasi:cli/command` that misbehaves on request, for restart and backoff tests.
//!
//! Prints `crasher starting`, sleeps `CRASH_AFTER_MS` (default 200) milliseconds, then acts on
//! `CRASH_MODE`: `exit` exits with code 3, `trap` panics (a trap), `ok` (the default) exits 0,
//! `forever` sleeps forever.
//!
//! Exit code 3 goes through `wasi:cli/exit#exit-with-code` (WASI 0.2.12): Rust's
//! `std::process::exit(n)` reports only success or failure (0 or 1) on wasm32-wasip2.

use std::time::Duration;

fn main() {
    println!("crasher starting");
    let after = std::env::var("CRASH_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(200);
    std::thread::sleep(Duration::from_millis(after));
    let mode = std::env::var("CRASH_MODE").unwrap_or_else(|_| "ok".to_string());
    match mode.as_str() {
        "exit" => {
            println!("crasher exiting with code 3");
            wasi::cli::exit::exit_with_code(3);
            std::process::exit(3); // not reached: exit-with-code does not return
        }
        "trap" => panic!("crasher trapping on purpose"),
        "forever" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => println!("crasher done"),
    }
}
