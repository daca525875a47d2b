//! The backend of the service-call sample: `GET /items` answers a JSON list, and says which
//! trace it served (the `traceparent` wasmpod carried from the caller).

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Backend;

fn header(request: &IncomingRequest, name: &str) -> String {
    request
        .headers()
        .get(&name.to_string())
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

impl Guest for Backend {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let trace = header(&request, "traceparent");
        let body = format!(r#"{{"items":["apple","banana","cherry"],"traceparent":"{trace}"}}"#);
        let headers = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
            .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(headers);
        let Ok(out) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = out.write() {
            let _ = stream.blocking_write_and_flush(body.as_bytes());
        }
        let _ = OutgoingBody::finish(out, None);
    }
}

wasi::http::proxy::export!(Backend);
