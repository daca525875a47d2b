//! {{name}}: a wasmpod service, a plain `wasi:http/proxy` component (no SDK: the `wasi` crate's
//! bindings of the standard interfaces). Every request gets a fresh instance.
//!
//! Answers with a greeting read from config (the env var GREETING, set by the pod's `env:` list)
//! and, when UPSTREAM is set (say `http://hello/hello`), with what that service answered:
//! `http://NAME/...` reaches the Service NAME in the same namespace.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

struct Service;

fn read_body(body: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream = body.stream().map_err(|()| "body stream already taken".to_string())?;
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

/// GET `url` (`http://NAME/path`) through wasi:http/outgoing-handler: (status, body).
fn call(url: &str) -> Result<(u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or("UPSTREAM must start with http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "bad method")?;
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    let path = if path.is_empty() { "/" } else { path };
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let body = request.body().map_err(|()| "no request body")?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        Some(Err(())) | None => return Err("no response".to_string()),
    };
    let status = response.status();
    let body = response.consume().map_err(|()| "no response body")?;
    Ok((status, String::from_utf8_lossy(&read_body(&body)?).into_owned()))
}

impl Guest for Service {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello from {{name}}!".to_string());
        let (status, text) = match std::env::var("UPSTREAM") {
            Err(_) => (200, format!("{greeting}\n")),
            Ok(url) => match call(&url) {
                Ok((200, said)) => (200, format!("{greeting}\n{url} answered 200:\n{said}")),
                Ok((code, said)) => (502, format!("{greeting}\n{url} answered {code}:\n{said}")),
                Err(e) => (502, format!("{greeting}\ncannot reach {url}: {e}\n")),
            },
        };
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(status);
        let Ok(out) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = out.write() {
            for chunk in text.as_bytes().chunks(4096) {
                let _ = stream.blocking_write_and_flush(chunk);
            }
        }
        let _ = OutgoingBody::finish(out, None);
    }
}

wasi::http::proxy::export!(Service);
