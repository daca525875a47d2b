//! A `wasi:http/proxy` component that drives `wasi:keyvalue` from its request, for the key-value
//! end-to-end tests and bench. A store's error answers 403 `access-denied`, 404 `no-such-store`
//! or 500 `other: <message>`.
//!
//! - `GET /open/S` → 200 `opened` when store S opens
//! - `GET|PUT|DELETE /kv/S/K` → the value of K (404 `absent`), sets it to the body, deletes it
//! - `GET /exists/S/K` → `true` or `false`
//! - `GET /keys/S` → every key, sorted, one per line (following the cursor to the end); with
//!   `?pages=1` the first line is `pages: N`, the number of `list-keys` calls it took
//! - `GET /incr/S/K?by=N` → the value after adding N (default 1)
//! - `GET /cas/S/K?new=V[&race=R]` → reads K through a CAS handle, sets K to R behind its back
//!   when `race` is given, then swaps in V: `swapped`, or `failed, retried: swapped` when the
//!   swap lost and the returned handle (which must hold R) then won
//! - `PUT /batch/S` with `k=v` lines → set-many; `GET /batch/S?keys=a,b` → `a=v` or `b absent`
//!   lines (get-many); `DELETE /batch/S?keys=a,b` → delete-many
//! - `GET /visit[/...]` → one `get` of `greeting` and one `increment` of `visits` in store
//!   `default`: `<greeting or "-"> <visits>` (the bench's per-request work; anything after
//!   `/visit/` is ignored, so that ingress paths can tell deployments apart)

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam,
};
use wasi::io::streams::StreamError;

mod kv {
    wit_bindgen::generate!({
        path: "../../../runtime/wit/keyvalue",
        world: "wasi:keyvalue/imports",
    });
}

use kv::wasi::keyvalue::{atomics, batch, store};

type Answer = (u16, Vec<u8>);

fn store_error(e: store::Error) -> Answer {
    match e {
        store::Error::AccessDenied => (403, b"access-denied".to_vec()),
        store::Error::NoSuchStore => (404, b"no-such-store".to_vec()),
        store::Error::Other(m) => (500, format!("other: {m}").into_bytes()),
    }
}

macro_rules! tryk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return store_error(e),
        }
    };
}

struct KvTest;

impl Guest for KvTest {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, body) = route(request);
        respond(out, status, &body);
    }
}

fn route(request: IncomingRequest) -> Answer {
    let full = request.path_with_query().unwrap_or_default();
    let (path, query) = full.split_once('?').unwrap_or((full.as_str(), ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method();
    match (parts.as_slice(), &method) {
        (["visit", ..], _) => visit(),
        (["open", s], _) => {
            tryk!(store::open(s));
            (200, b"opened".to_vec())
        }
        (["kv", s, k], Method::Put) => {
            let value = match read_body(request) {
                Ok(v) => v,
                Err(e) => return (400, e.into_bytes()),
            };
            tryk!(tryk!(store::open(s)).set(k, &value));
            (200, b"set".to_vec())
        }
        (["kv", s, k], Method::Delete) => {
            tryk!(tryk!(store::open(s)).delete(k));
            (200, b"deleted".to_vec())
        }
        (["kv", s, k], _) => match tryk!(tryk!(store::open(s)).get(k)) {
            Some(v) => (200, v),
            None => (404, b"absent".to_vec()),
        },
        (["exists", s, k], _) => {
            let found = tryk!(tryk!(store::open(s)).exists(k));
            (200, found.to_string().into_bytes())
        }
        (["keys", s], _) => {
            let bucket = tryk!(store::open(s));
            let mut keys = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page = tryk!(bucket.list_keys(cursor.as_deref()));
                pages += 1;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            keys.sort();
            if param(query, "pages").is_some() {
                keys.insert(0, format!("pages: {pages}"));
            }
            (200, keys.join("\n").into_bytes())
        }
        (["incr", s, k], _) => {
            let by = param(query, "by").and_then(|b| b.parse().ok()).unwrap_or(1);
            let n = tryk!(atomics::increment(&tryk!(store::open(s)), k, by));
            (200, n.to_string().into_bytes())
        }
        (["cas", s, k], _) => cas(s, k, query),
        (["batch", s], Method::Put) => {
            let text = match read_body(request) {
                Ok(v) => String::from_utf8_lossy(&v).into_owned(),
                Err(e) => return (400, e.into_bytes()),
            };
            let pairs: Vec<(String, Vec<u8>)> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            tryk!(batch::set_many(&tryk!(store::open(s)), &pairs));
            (200, format!("set {}", pairs.len()).into_bytes())
        }
        (["batch", s], Method::Delete) => {
            let keys = list_param(query);
            tryk!(batch::delete_many(&tryk!(store::open(s)), &keys));
            (200, format!("deleted {}", keys.len()).into_bytes())
        }
        (["batch", s], _) => {
            let keys = list_param(query);
            let found = tryk!(batch::get_many(&tryk!(store::open(s)), &keys));
            let lines: Vec<String> = keys
                .iter()
                .zip(found)
                .map(|(k, pair)| match pair {
                    Some((_, v)) => format!("{k}={}", String::from_utf8_lossy(&v)),
                    None => format!("{k} absent"),
                })
                .collect();
            (200, lines.join("\n").into_bytes())
        }
        _ => (404, b"no such route".to_vec()),
    }
}

fn visit() -> Answer {
    let bucket = tryk!(store::open("default"));
    let greeting = tryk!(bucket.get("greeting"));
    let visits = tryk!(atomics::increment(&bucket, "visits", 1));
    let greeting = greeting.map_or_else(|| "-".to_string(), |g| String::from_utf8_lossy(&g).into_owned());
    (200, format!("{greeting} {visits}").into_bytes())
}

fn cas(s: &str, k: &str, query: &str) -> Answer {
    let Some(new) = param(query, "new") else {
        return (400, b"missing ?new=".to_vec());
    };
    let bucket = tryk!(store::open(s));
    let handle = tryk!(atomics::Cas::new(&bucket, k));
    if let Some(race) = param(query, "race") {
        tryk!(bucket.set(k, race.as_bytes()));
    }
    match atomics::swap(handle, new.as_bytes()) {
        Ok(()) => (200, b"swapped".to_vec()),
        Err(atomics::CasError::StoreError(e)) => store_error(e),
        Err(atomics::CasError::CasFailed(retry)) => {
            let current = tryk!(retry.current()).unwrap_or_default();
            let current = String::from_utf8_lossy(&current).into_owned();
            match atomics::swap(retry, new.as_bytes()) {
                Ok(()) => (200, format!("failed (current {current}), retried: swapped").into_bytes()),
                Err(atomics::CasError::StoreError(e)) => store_error(e),
                Err(atomics::CasError::CasFailed(_)) => (409, b"failed twice".to_vec()),
            }
        }
    }
}

fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn list_param(query: &str) -> Vec<String> {
    param(query, "keys")
        .map(|k| k.split(',').filter(|k| !k.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

fn read_body(request: IncomingRequest) -> Result<Vec<u8>, String> {
    let body: IncomingBody = request
        .consume()
        .map_err(|()| "body already taken".to_string())?;
    let mut out = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| "body stream already taken".to_string())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
            }
        }
    }
    IncomingBody::finish(body);
    Ok(out)
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_string(), b"text/plain".to_vec()),
        ("content-length".to_string(), body.len().to_string().into_bytes()),
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

wasi::http::proxy::export!(KvTest);
