//! The stateful sample: a `wasi:http/proxy` component that counts its visits with
//! `wasi:keyvalue` (`increment` of the key `visits` in the store `default`, one atomic step in
//! the store, so every replica on every node counts into the same number when the store is
//! Redis) and greets with `GREETING` (from a ConfigMap). When `TOKEN` is set (from a Secret),
//! every request must carry `authorization: Bearer <TOKEN>`.
//!
//! A store that cannot be used (not granted, not declared, Redis unreachable or refusing the
//! password) answers 500 with the store's error.

mod kv {
    wit_bindgen::generate!({
        path: "../../runtime/wit/keyvalue",
        world: "wasi:keyvalue/imports",
    });
}

use kv::wasi::keyvalue::{atomics, store};
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};

const STORE: &str = "default";
const KEY: &str = "visits";

struct Counter;

fn respond(response_out: ResponseOutparam, status: u16, text: &str, extra: &[(&str, &str)]) {
    let mut headers = vec![
        ("content-type".to_string(), b"text/plain; charset=utf-8".to_vec()),
        ("content-length".to_string(), text.len().to_string().into_bytes()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())));
    let headers = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = body.write() {
        for chunk in text.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// True when no token is configured or the request carries the right one.
fn authorized(request: &IncomingRequest) -> bool {
    let token = match std::env::var("TOKEN") {
        Ok(t) if !t.is_empty() => t,
        _ => return true,
    };
    let expected = format!("Bearer {token}");
    request
        .headers()
        .get("authorization")
        .iter()
        .any(|v| v.as_slice() == expected.as_bytes())
}

/// Adds one to the count in the store; returns the new count.
fn visit() -> Result<i64, String> {
    let describe = |e: store::Error| match e {
        store::Error::NoSuchStore => format!("key-value store {STORE:?}: no such store"),
        store::Error::AccessDenied => format!("key-value store {STORE:?}: access denied"),
        store::Error::Other(m) => format!("key-value store {STORE:?}: {m}"),
    };
    let bucket = store::open(STORE).map_err(describe)?;
    atomics::increment(&bucket, KEY, 1).map_err(describe)
}

impl Guest for Counter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        if !authorized(&request) {
            return respond(response_out, 401, "unauthorized: send `authorization: Bearer <token>`\n", &[("www-authenticate", "Bearer")]);
        }
        if !matches!(request.method(), Method::Get) {
            return respond(response_out, 405, "only GET counts a visit\n", &[("allow", "GET")]);
        }
        let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".to_string());
        match visit() {
            Ok(n) => respond(response_out, 200, &format!("{greeting} visit #{n}\n"), &[]),
            Err(e) => respond(response_out, 500, &format!("counter: {e}\n"), &[]),
        }
    }
}

wasi::http::proxy::export!(Counter);
