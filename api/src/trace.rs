//! W3C trace context: the `traceparent` header (`00-<32 hex trace id>-<16 hex span id>-<flags>`).
//! The gateway starts a trace for a request that has none; the runtime continues it on a guest's
//! outgoing calls (same trace id, a new span id).

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header's name.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A parsed `traceparent`: its four fields as one lower-case text, `vv-<trace>-<span>-ff`. One
/// string rather than four, since the gateway makes or reads one for every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    text: String,
}

/// Where each field sits in the text (the W3C shape has fixed lengths).
const TRACE_ID: std::ops::Range<usize> = 3..35;
const SPAN_ID: std::ops::Range<usize> = 36..52;
const FLAGS: std::ops::Range<usize> = 53..55;
const LEN: usize = 55;

/// Appends `N` random bytes in lower-case hex to `text`.
fn push_random_hex<const N: usize>(text: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; N];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes[..]);
    for byte in bytes {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl TraceParent {
    /// A new trace (version 00, sampled).
    pub fn new_root() -> TraceParent {
        let mut text = String::with_capacity(LEN);
        text.push_str("00-");
        push_random_hex::<16>(&mut text);
        text.push('-');
        push_random_hex::<8>(&mut text);
        text.push_str("-01");
        TraceParent { text }
    }

    /// The `traceparent` of `headers`, if it has one of the W3C shape.
    pub fn from_headers(headers: &HeaderMap) -> Option<TraceParent> {
        headers.get(TRACEPARENT).and_then(TraceParent::parse)
    }

    /// The first four fields of a `traceparent` of the W3C shape (later versions may append more,
    /// which are not kept).
    pub fn parse(value: &HeaderValue) -> Option<TraceParent> {
        let value = value.to_str().ok()?.trim();
        let mut parts = value.split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if !(is_hex(version, 2) && is_hex(trace, 32) && is_hex(span, 16) && is_hex(flags, 2)) {
            return None;
        }
        // The four fields and their three dashes are the first LEN bytes, all ASCII.
        Some(TraceParent {
            text: value[..LEN].to_ascii_lowercase(),
        })
    }

    /// The context of a call made within this one: same trace, a new span.
    pub fn child(&self) -> TraceParent {
        let mut text = String::with_capacity(LEN);
        text.push_str(&self.text[..SPAN_ID.start]);
        push_random_hex::<8>(&mut text);
        text.push_str(&self.text[SPAN_ID.end..]);
        TraceParent { text }
    }

    pub fn trace_id(&self) -> &str {
        &self.text[TRACE_ID]
    }

    pub fn span_id(&self) -> &str {
        &self.text[SPAN_ID]
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.text[FLAGS], 16).unwrap_or(0)
    }

    pub fn to_header(&self) -> HeaderValue {
        // Only hex digits and dashes: always a valid header value.
        HeaderValue::from_str(&self.text).unwrap_or_else(|_| HeaderValue::from_static(""))
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
    fn parse_lowercases_and_keeps_the_first_four_fields() {
        let sent = "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-03-later";
        let parent = TraceParent::parse(&HeaderValue::from_static(sent)).expect("valid");
        assert_eq!(parent.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(parent.span_id(), "b7ad6b7169203331");
        assert_eq!(parent.flags(), 3);
        assert_eq!(
            parent.to_header(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
        );
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-abc-def-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(
                TraceParent::parse(&HeaderValue::from_static(bad)),
                None,
                "{bad:?}"
            );
        }
    }
}
