//! W3C trace context: the `traceparent` header (`00-<32 hex trace id>-<16 hex span id>-<flags>`).
//! The gateway starts a trace for a request that has none; the runtime continues it on a guest's
//! outgoing calls (same trace id, a new span id).

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header's name.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A parsed `traceparent`, its ids in lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    version: String,
    trace_id: String,
    span_id: String,
    flags: String,
}

/// `bytes` random bytes in lower-case hex.
fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl TraceParent {
    /// A new trace (version 00, sampled).
    pub fn new_root() -> TraceParent {
        TraceParent {
            version: "00".into(),
            trace_id: random_hex(16),
            span_id: random_hex(8),
            flags: "01".into(),
        }
    }

    /// The `traceparent` of `headers`, if it has one of the W3C shape.
    pub fn from_headers(headers: &HeaderMap) -> Option<TraceParent> {
        headers.get(TRACEPARENT).and_then(TraceParent::parse)
    }

    pub fn parse(value: &HeaderValue) -> Option<TraceParent> {
        let mut parts = value.to_str().ok()?.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if !(is_hex(version, 2) && is_hex(trace, 32) && is_hex(span, 16) && is_hex(flags, 2)) {
            return None;
        }
        Some(TraceParent {
            version: version.to_ascii_lowercase(),
            trace_id: trace.to_ascii_lowercase(),
            span_id: span.to_ascii_lowercase(),
            flags: flags.to_ascii_lowercase(),
        })
    }

    /// The context of a call made within this one: same trace, a new span.
    pub fn child(&self) -> TraceParent {
        TraceParent {
            span_id: random_hex(8),
            ..self.clone()
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    pub fn span_id(&self) -> &str {
        &self.span_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.flags, 16).unwrap_or(0)
    }

    pub fn to_header(&self) -> HeaderValue {
        let text = format!(
            "{}-{}-{}-{}",
            self.version, self.trace_id, self.span_id, self.flags
        );
        // Only hex digits and dashes: always a valid header value.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_root_has_the_w3c_shape() {
        let tp = TraceParent::new_root().to_header();
        let parts: Vec<&str> = tp.to_str().unwrap().split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
        assert!(parts[1].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(TraceParent::new_root().to_header(), tp);
    }

    #[test]
    fn child_keeps_the_trace_and_makes_a_new_span() {
        let sent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let parent = TraceParent::parse(&HeaderValue::from_static(sent)).expect("valid");
        assert_eq!(parent.to_header(), sent);
        let child = parent.child();
        assert_eq!(child.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_ne!(child.span_id(), parent.span_id());
        assert!(child.to_header().to_str().unwrap().ends_with("-01"));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-abc-def-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
        ] {
            assert_eq!(
                TraceParent::parse(&HeaderValue::from_static(bad)),
                None,
                "{bad:?}"
            );
        }
    }
}
