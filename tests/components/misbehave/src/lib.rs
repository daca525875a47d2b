//! A `wasi:http/proxy` component that misbehaves on request, for the runtime's and the cluster's
//! tests.
//!
//! - `/ok` → 200 `ok`
//! - `/trap` → panics (a trap)
//! - `/loop` → spins forever
//! - `/alloc` → allocates (and touches) 1 MiB chunks without bound
//! - `/log` → writes `log-stdout` to stdout and `log-stderr` to stderr, 200
//! - `/env/NAME` → the value of env var NAME, 404 if unset
//! - `/config/KEY` → the value of KEY from `wasi:config/store`, 404 if unset
//! - `/fetch?url=U` → outgoing GET of U: `<status>\n<body>`, or 502 with the error
//! - `GET /file?path=P` → contents of P; `PUT /file?path=P` writes the request body to P and fsyncs;
//!   `DELETE /file?path=P` removes P
//! - `/count[?hold_ms=N]` → `<instance id> <n>`: a random id fixed for the life of this instance and
//!   how many `/count` requests it has served (state that carries over only when an instance is
//!   reused); waits N milliseconds before answering, to hold the instance busy
//! - `/args` → the program's arguments (`argv[0]` is the pod's name), one per line
//! - `/headers` → the request's headers, `name: value` one per line, sorted
//! - `/body-length` → reads the whole request body and answers its length (500 with the error if
//!   the read fails)
//! - `/recurse` → recurses without bound (a stack overflow trap)
//! - `/stream?mib=N` → 200 with N MiB of `x`, written as fast as the client reads them
//! - `/trailers` → 200 `body before trailers`, then the trailers `x-checksum: 42` and
//!   `x-served-by: misbehave`

use std::io::Write as _;
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

mod config {
    wit_bindgen::generate!({
        inline: r"
            package wasi:config@0.2.0-rc.1;
            interface store {
                variant error { upstream(string), io(string) }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }
            world imports { import store; }
        ",
        world: "wasi:config/imports",
    });
}

struct Misbehave;

impl Guest for Misbehave {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_string());
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query.clone(), String::new()),
        };
        let method = request.method();
        if path == "/trailers" {
            respond_with_trailers(response_out);
            return;
        }
        if path == "/stream" {
            let mib = query_param(&query, "mib")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            stream_response(response_out, mib);
            return;
        }
        let (status, body) = match path.as_str() {
            "/ok" | "/" => (200, b"ok".to_vec()),
            "/trap" => {
                eprintln!("misbehave: instance {:016x} trapping", instance_id());
                panic!("misbehave: trapping on purpose")
            }
            "/count" => count(&query),
            "/args" => (200, std::env::args().collect::<Vec<_>>().join("\n").into_bytes()),
            "/headers" => (200, headers(&request).into_bytes()),
            "/loop" => spin(),
            "/recurse" => (200, recurse(0).to_string().into_bytes()),
            "/body-length" => body_length(request),
            "/alloc" => alloc_forever(),
            "/log" => {
                println!("log-stdout");
                eprintln!("log-stderr");
                (200, b"logged".to_vec())
            }
            "/fetch" => match query_param(&query, "url") {
                Some(url) => fetch(&url),
                None => (400, b"missing ?url=".to_vec()),
            },
            "/file" => match query_param(&query, "path") {
                Some(file) if matches!(method, Method::Put) => write_file(&file, request),
                Some(file) if matches!(method, Method::Delete) => remove_file(&file),
                Some(file) => read_file(&file),
                None => (400, b"missing ?path=".to_vec()),
            },
            p if p.starts_with("/env/") => match std::env::var(&p["/env/".len()..]) {
                Ok(v) => (200, v.into_bytes()),
                Err(_) => (404, b"unset".to_vec()),
            },
            p if p.starts_with("/config/") => {
                match config::wasi::config::store::get(&p["/config/".len()..]) {
                    Ok(Some(v)) => (200, v.into_bytes()),
                    Ok(None) => (404, b"unset".to_vec()),
                    Err(e) => (500, format!("config error: {e:?}").into_bytes()),
                }
            }
            _ => (404, b"not found".to_vec()),
        };
        respond(response_out, status, &body);
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"text/plain".to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

fn respond_with_trailers(out: ResponseOutparam) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(200);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        let _ = stream.blocking_write_and_flush(b"body before trailers");
    }
    let trailers = Fields::from_list(&[
        ("x-checksum".to_string(), b"42".to_vec()),
        ("x-served-by".to_string(), b"misbehave".to_vec()),
    ])
    .unwrap_or_else(|_| Fields::new());
    let _ = OutgoingBody::finish(outgoing, Some(trailers));
}

/// Recursion without a base case, exhausting wasm's call stack. The recursive call's result goes
/// through `black_box` before it is used, so this is no tail call and no accumulator loop.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(depth + 1)) ^ depth
}

fn stream_response(out: ResponseOutparam, mib: u64) {
    let headers = Fields::from_list(&[(
        "content-length".to_string(),
        (mib << 20).to_string().into_bytes(),
    )])
    .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(200);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        let chunk = vec![b'x'; 64 << 10];
        let mut left = mib << 20;
        let writable = stream.subscribe();
        while left > 0 {
            let Ok(permitted) = stream.check_write() else {
                return;
            };
            if permitted == 0 {
                // Until the host takes more (the client reads): this is the backpressure.
                writable.block();
                continue;
            }
            let n = left.min(permitted).min(chunk.len() as u64) as usize;
            if stream.write(&chunk[..n]).is_err() {
                return;
            }
            left -= n as u64;
        }
        drop(writable);
        if stream.blocking_flush().is_err() {
            return;
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

/// This instance's id, drawn on first use.
fn instance_id() -> u64 {
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(wasi::random::random::get_random_u64)
}

fn count(query: &str) -> (u16, Vec<u8>) {
    static SERVED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if let Some(ms) = query_param(query, "hold_ms").and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    (200, format!("{:016x} {n}", instance_id()).into_bytes())
}

fn headers(request: &IncomingRequest) -> String {
    let mut lines: Vec<String> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(&value)))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn alloc_forever() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_body(body: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream = body
        .stream()
        .map_err(|()| "body stream already taken".to_string())?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    Ok(out)
}

fn fetch(url: &str) -> (u16, Vec<u8>) {
    match try_fetch(url) {
        Ok((status, body)) => {
            let mut out = format!("{status}\n").into_bytes();
            out.extend_from_slice(&body);
            (200, out)
        }
        Err(e) => (502, e.into_bytes()),
    }
}

fn try_fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("unsupported url {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| "bad method")?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let body = request.body().map_err(|()| "no request body")?;
    OutgoingBody::finish(body, None).map_err(|e| format!("finish: {e:?}"))?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        Some(Err(())) | None => return Err("response future failed".to_string()),
    };
    let status = response.status();
    let body = response.consume().map_err(|()| "no response body")?;
    let bytes = read_body(&body)?;
    Ok((status, bytes))
}

fn read_file(path: &str) -> (u16, Vec<u8>) {
    match std::fs::read(path) {
        Ok(bytes) => (200, bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (404, e.to_string().into_bytes()),
        Err(e) => (500, e.to_string().into_bytes()),
    }
}

fn body_length(request: IncomingRequest) -> (u16, Vec<u8>) {
    let Ok(body) = request.consume() else {
        return (500, b"request body already consumed".to_vec());
    };
    match read_body(&body) {
        Ok(bytes) => (200, bytes.len().to_string().into_bytes()),
        Err(e) => (500, e.into_bytes()),
    }
}

fn write_file(path: &str, request: IncomingRequest) -> (u16, Vec<u8>) {
    let body = match request.consume() {
        Ok(body) => body,
        Err(()) => return (500, b"request body already consumed".to_vec()),
    };
    let bytes = match read_body(&body) {
        Ok(bytes) => bytes,
        Err(e) => return (500, e.into_bytes()),
    };
    let result = std::fs::File::create(path).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    match result {
        Ok(()) => (200, format!("wrote {} bytes", bytes.len()).into_bytes()),
        Err(e) => (500, e.to_string().into_bytes()),
    }
}

fn remove_file(path: &str) -> (u16, Vec<u8>) {
    match std::fs::remove_file(path) {
        Ok(()) => (200, b"removed".to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (404, e.to_string().into_bytes()),
        Err(e) => (500, e.to_string().into_bytes()),
    }
}

wasi::http::proxy::export!(Misbehave);
