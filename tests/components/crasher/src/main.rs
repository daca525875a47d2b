//! A `wasi:cli/command` that misbehaves on request, for restart and backoff tests.
//!
//! Prints `crasher starting`, sleeps `CRASH_AFTER_MS` (default 200) milliseconds, then acts on
//! `CRASH_MODE`: `exit` exits with code 3, `trap` panics (a trap), `ok` (the default) exits 0,
//! `forever` sleeps forever.
//!
//! Before that it prints `crasher args: A|B|...` (its arguments, `argv[0]` being the pod's name),
//! and `crasher says: X` when the env var `CRASHER_SAY` is X; with `CRASHER_APPEND=PATH` it appends
//! a line `started` to the file PATH (a volume's data surviving the crashes).
//!
//! Exit code 3 goes through `wasi:cli/exit#exit-with-code` (WASI 0.2.12): Rust's
//! `std::process::exit(n)` reports only success or failure (0 or 1) on wasm32-wasip2.

use std::time::Duration;

fn main() {
    println!("crasher starting");
    println!(
        "crasher args: {}",
        std::env::args().collect::<Vec<_>>().join("|")
    );
    if let Ok(say) = std::env::var("CRASHER_SAY") {
        println!("crasher says: {say}");
    }
    if let Ok(path) = std::env::var("CRASHER_APPEND") {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(b"started\n")?;
                f.sync_all()
            });
        if let Err(e) = appended {
            println!("crasher cannot append to {path}: {e}");
        }
    }
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
