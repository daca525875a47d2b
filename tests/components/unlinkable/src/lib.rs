//! A `wasi:http/proxy` component that also imports an interface no host provides
//! (`example:missing/thing@0.1.0`): wasmpod must refuse to link it and say which import is missing.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

mod missing {
    wit_bindgen::generate!({
        inline: r"
            package example:missing@0.1.0;
            interface thing { ping: func() -> u32; }
            world imports { import thing; }
        ",
        world: "example:missing/imports",
    });
}

struct Unlinkable;

impl Guest for Unlinkable {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let answer = missing::example::missing::thing::ping().to_string();
        let response = OutgoingResponse::new(Fields::new());
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(answer.as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

wasi::http::proxy::export!(Unlinkable);
