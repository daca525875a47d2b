//! `kvcommand`: a `wasi:cli/command` that uses `wasi:keyvalue`, for the key-value end-to-end
//! tests of command pods (kvtest is its HTTP twin).
//!
//! On start it opens store `KV_STORE` (default `default`), increments `runs` and prints
//! `kvcommand runs=N`, sets `from-command` to `KV_VALUE` (default `hello from a command`) and
//! prints `kvcommand set from-command`; with `KV_DENIED=NAME` it opens NAME too and prints
//! `kvcommand NAME: <error>` (`access-denied` for a store the pod does not list). A store error
//! is printed as `kvcommand error: ...` and ends the run with exit code 1. Then it sleeps, so that
//! a Deployment's pod stays Running and runs once.

use std::time::Duration;

mod kv {
    wit_bindgen::generate!({
        path: "../../../runtime/wit/keyvalue",
        world: "wasi:keyvalue/imports",
    });
}

use kv::wasi::keyvalue::{atomics, store};

fn describe(e: &store::Error) -> String {
    match e {
        store::Error::AccessDenied => "access-denied".to_string(),
        store::Error::NoSuchStore => "no-such-store".to_string(),
        store::Error::Other(m) => format!("other: {m}"),
    }
}

fn run() -> Result<(), store::Error> {
    let name = std::env::var("KV_STORE").unwrap_or_else(|_| "default".to_string());
    let bucket = store::open(&name)?;
    let runs = atomics::increment(&bucket, "runs", 1)?;
    println!("kvcommand runs={runs}");
    let value = std::env::var("KV_VALUE").unwrap_or_else(|_| "hello from a command".to_string());
    bucket.set("from-command", value.as_bytes())?;
    println!("kvcommand set from-command");
    if let Ok(denied) = std::env::var("KV_DENIED") {
        match store::open(&denied) {
            Ok(_) => println!("kvcommand {denied}: opened"),
            Err(e) => println!("kvcommand {denied}: {}", describe(&e)),
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        println!("kvcommand error: {}", describe(&e));
        std::process::exit(1);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
