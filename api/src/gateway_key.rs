//! Keys that nodes derive from their own credential, so no key is shared by the whole cluster.
//!
//! - A node's **credential** is a random 256-bit bearer token bound to its name (`POST
//!   /api/v1/nodes/NAME/credential`); the control plane stores only its SHA-256.
//! - Its **forward key** is `HMAC-SHA256(credential, "wasmpod forward")`. A gateway forwarding a
//!   request to another node's gateway sends [`NODE_HEADER`] (its name) and [`FORWARD_KEY_HEADER`]
//!   (its forward key); the receiver checks the key against the SHA-256 the sender published in
//!   its `NodeStatus.forwardKeyHash`, which only the sender may write.
//! - Its **agent key** is derived by the control plane from its secrets key and the node's name
//!   and handed to the node with its credential; the control plane's log proxy presents it in
//!   [`AGENT_KEY_HEADER`] to that node's agent.

use sha2::{Digest, Sha256};

/// The name of the node that forwards a request to another node's gateway.
pub const NODE_HEADER: &str = "x-wasmpod-node";
/// The forwarding node's forward key.
pub const FORWARD_KEY_HEADER: &str = "x-wasmpod-forward-key";
/// The per-node key the control plane presents to a node's agent.
pub const AGENT_KEY_HEADER: &str = "x-wasmpod-agent-key";

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The forward key of the node holding `credential`.
pub fn forward_key(credential: &str) -> String {
    hex::encode(hmac_sha256(credential.as_bytes(), b"wasmpod forward"))
}

/// What is published or stored for a secret: its SHA-256, hex encoded.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether the SHA-256 of `presented` is `published` (hex). An empty `published` matches nothing.
pub fn hash_matches(published: &str, presented: &[u8]) -> bool {
    let hash = hex::encode(Sha256::digest(presented));
    !published.is_empty() && constant_time_eq(published.as_bytes(), hash.as_bytes())
}

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
    use super::*;

    #[test]
    fn only_the_whole_key_matches() {
        assert!(matches("k3y", b"k3y"));
        assert!(!matches("k3y", b"k3x"));
        assert!(!matches("k3y", b"k3y "));
        assert!(!matches("", b""));
    }

    #[test]
    fn hmac_is_rfc_4231() {
        // RFC 4231 test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_forward_key_matches_only_its_published_hash() {
        let (a, b) = ("credential of a", "credential of b");
        let published = sha256_hex(&forward_key(a));
        assert!(hash_matches(&published, forward_key(a).as_bytes()));
        assert!(!hash_matches(&published, forward_key(b).as_bytes()));
        assert!(!hash_matches(&published, a.as_bytes()));
        assert!(!hash_matches("", b""));
    }
}
