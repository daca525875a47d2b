//! Call loops: every service call carries a hop count ([`HOPS_HEADER`], set by the runtime from
//! the request that started the calling instance, plus one). A request past [`MAX_HOPS`] is
//! answered `508 Loop Detected` instead of being served, so a service that (directly or through
//! others) calls itself ends quickly instead of filling the node's instance pool.

use super::service_id::ServiceId;
use http::{HeaderMap, Response, StatusCode};
use wasmpod_runtime::{hops_of, text_response, BoxBody};

pub use wasmpod_runtime::HOPS_HEADER;

/// Service calls one request may go through.
pub const MAX_HOPS: u32 = 16;

/// `Some(508 response)` when a request with `headers` to `service` is one call too many.
pub fn check(service: &ServiceId, headers: &HeaderMap) -> Option<Response<BoxBody>> {
    let hops = hops_of(headers);
    (hops > MAX_HOPS).then(|| {
        tracing::info!(%service, hops, "call loop refused");
        text_response(
            StatusCode::LOOP_DETECTED,
            &format!(
                "call loop detected: the request to service {service} has gone through {hops} service calls (limit {MAX_HOPS})"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seventeenth_call_is_refused() {
        let mut headers = HeaderMap::new();
        assert!(check(&ServiceId::new("default", "a"), &headers).is_none());
        headers.insert(HOPS_HEADER, MAX_HOPS.into());
        assert!(check(&ServiceId::new("default", "a"), &headers).is_none());
        headers.insert(HOPS_HEADER, (MAX_HOPS + 1).into());
        let refused = check(&ServiceId::new("default", "a"), &headers).expect("refused");
        assert_eq!(refused.status(), StatusCode::LOOP_DETECTED);
    }
}
