//! W3C trace context: the `traceparent` header (`00-<32 hex trace id>-<16 hex span id>-<flags>`).
//! The gateway starts a trace for a request that has none; the runtime continues it on a guest's
//! outgoing calls (same trace id, a new span id).

use http::{HeaderName, HeaderValue};

/// The header's name.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A parsed `traceparent`: its four fields as one lower-case text, `vv-<trace>-<span>-ff`, held
/// inline (no allocation), since the gateway makes or reads one for every request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    text: [u8; LEN],
}

impl std::fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TraceParent").field(&self.as_str()).finish()
    }
}

/// Where each field sits in the text (the W3C shape has fixed lengths).
const TRACE_ID: std::ops::Range<usize> = 3..35;
const SPAN_ID: std::ops::Range<usize> = 36..52;
const FLAGS: std::ops::Range<usize> = 53..55;
const LEN: usize = 55;
/// Where the three dashes between the fields sit.
const DASHES: [usize; 3] = [2, 35, 52];

/// Writes random bytes in lower-case hex over `out` (two digits a byte).
fn fill_random_hex(out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    let bytes = &mut bytes[..out.len() / 2];
    rand::Rng::fill(&mut rand::thread_rng(), &mut *bytes);
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes.iter()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
}

impl TraceParent {
    /// A new trace (version 00, sampled).
    pub fn new_root() -> TraceParent {
        let mut text = *b"00-________________________________-________________-01";
        fill_random_hex(&mut text[TRACE_ID]);
        fill_random_hex(&mut text[SPAN_ID]);
        TraceParent { text }
    }

    /// The first four fields of a `traceparent` of the W3C shape (later versions may append more,
    /// after a dash, which are not kept).
    pub fn parse(value: &HeaderValue) -> Option<TraceParent> {
        let value = value.to_str().ok()?.trim().as_bytes();
        let head = value.get(..LEN)?;
        if value.get(LEN).is_some_and(|b| *b != b'-') {
            return None;
        }
        let mut text = [0u8; LEN];
        for (i, (out, byte)) in text.iter_mut().zip(head).enumerate() {
            let fits = if DASHES.contains(&i) {
                *byte == b'-'
            } else {
                byte.is_ascii_hexdigit()
            };
            if !fits {
                return None;
            }
            *out = byte.to_ascii_lowercase();
        }
        Some(TraceParent { text })
    }

    /// The context of a call made within this one: same trace, a new span.
    pub fn child(&self) -> TraceParent {
        let mut text = self.text;
        fill_random_hex(&mut text[SPAN_ID]);
        TraceParent { text }
    }

    /// The whole text, `vv-<trace>-<span>-ff`.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever stored.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    pub fn trace_id(&self) -> &str {
        &self.as_str()[TRACE_ID]
    }

    pub fn span_id(&self) -> &str {
        &self.as_str()[SPAN_ID]
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.as_str()[FLAGS], 16).unwrap_or(0)
    }

    pub fn to_header(&self) -> HeaderValue {
        // Only hex digits and dashes: always a valid header value.
        HeaderValue::from_bytes(&self.text).unwrap_or_else(|_| HeaderValue::from_static(""))
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
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-101",
        ] {
            assert_eq!(
                TraceParent::parse(&HeaderValue::from_static(bad)),
                None,
                "{bad:?}"
            );
        }
    }
}
