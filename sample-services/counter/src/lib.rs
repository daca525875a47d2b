//! The stateful sample: a `wasi:http/proxy` component that counts its visits in a file of its
//! persistent volume (`/data/count`) and greets with `GREETING` (from a ConfigMap). When `TOKEN`
//! is set (from a Secret), every request must carry `authorization: Bearer <TOKEN>`.
//!
//! Each `GET` reads the count, adds one, writes it back in place and `fsync`s before answering,
//! so a visit the client saw counted survives a crash of the pod or of its node. The count only
//! grows, so the new text is never shorter than the old one and overwriting in place never leaves
//! an empty or truncated file behind. (Concurrent visits may read the same count: it is a sample.)

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};

const COUNT_FILE: &str = "/data/count";

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

/// Reads the count, adds one, writes it back and syncs it to disk; returns the new count.
fn visit() -> Result<u64, String> {
    let mut file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(COUNT_FILE)
        .map_err(|e| format!("cannot open {COUNT_FILE}: {e}"))?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| format!("cannot read {COUNT_FILE}: {e}"))?;
    let current: u64 = match text.trim() {
        "" => 0,
        t => t.parse().map_err(|_| format!("{COUNT_FILE} holds {t:?}, not a count"))?,
    };
    let next = current + 1;
    file.seek(SeekFrom::Start(0)).map_err(|e| format!("cannot seek {COUNT_FILE}: {e}"))?;
    file.write_all(format!("{next}\n").as_bytes()).map_err(|e| format!("cannot write {COUNT_FILE}: {e}"))?;
    file.sync_all().map_err(|e| format!("cannot sync {COUNT_FILE}: {e}"))?;
    Ok(next)
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
