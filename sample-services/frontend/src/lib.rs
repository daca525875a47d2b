//! The frontend of the service-call sample: calls the `backend` service by name
//! (`GET http://backend/items`, plain `wasi:http/outgoing-handler`) and returns both answers.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

struct Frontend;

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

fn call_backend() -> Result<(u16, String), String> {
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "bad method")?;
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    request.set_authority(Some("backend")).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some("/items")).map_err(|()| "bad path")?;
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

impl Guest for Frontend {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let trace = request
            .headers()
            .get(&"traceparent".to_string())
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let (status, text) = match call_backend() {
            Ok((200, body)) => (200, format!("frontend (traceparent {trace})\nbackend said: {body}\n")),
            Ok((code, body)) => (502, format!("frontend: backend answered {code}: {body}")),
            Err(e) => (502, format!("frontend: cannot reach backend: {e}\n")),
        };
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(status);
        let Ok(out) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = out.write() {
            let _ = stream.blocking_write_and_flush(text.as_bytes());
        }
        let _ = OutgoingBody::finish(out, None);
    }
}

wasi::http::proxy::export!(Frontend);
