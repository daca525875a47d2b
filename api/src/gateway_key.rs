//! The cluster's gateway key: gateways present it to each other on forwarded requests, and the
//! control plane presents it to node agents. Nodes read it from `GET /api/v1/gateway-key`.

/// The header that carries the key.
pub const HEADER: &str = "x-wasmpod-gateway-key";

/// Whether `presented` is `key`. An empty key matches nothing.
pub fn matches(key: &str, presented: &[u8]) -> bool {
    !key.is_empty() && constant_time_eq(key.as_bytes(), presented)
}

/// Byte equality in time independent of where the inputs differ, so a guess at a secret learns
/// nothing from how long the comparison took.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_whole_key_matches() {
        assert!(super::matches("k3y", b"k3y"));
        assert!(!super::matches("k3y", b"k3x"));
        assert!(!super::matches("k3y", b"k3y "));
        assert!(!super::matches("", b""));
    }
}
