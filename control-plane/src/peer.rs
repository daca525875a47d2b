//! How API servers prove to each other that they are servers of the same control plane.
//!
//! The peer token is HMAC-SHA256(cluster encryption key, "wasmpod peer token v1"). Every server
//! of a control plane must hold the same encryption key anyway (it seals Secrets in the shared
//! store, and a server with another key could not open them), so every server derives the same
//! token without any new secret to distribute, and nobody without the key can compute it: the
//! key never leaves the servers, and the token reveals nothing about it. Rotating the key
//! rotates the token.
//!
//! A peer may only replicate blobs to a server and read blobs from it (see `server::auth`).

use sha2::{Digest, Sha256};

const CONTEXT: &[u8] = b"wasmpod peer token v1";

#[derive(Clone)]
pub struct PeerToken(String);

impl std::fmt::Debug for PeerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerToken(..)")
    }
}

impl PeerToken {
    /// The token every server holding `key` derives.
    pub fn derive(key: &[u8; 32]) -> PeerToken {
        PeerToken(hex::encode(hmac_sha256(key, CONTEXT)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `token` is this token (in constant time).
    pub fn matches(&self, token: &str) -> bool {
        wasmpod_api::gateway_key::constant_time_eq(self.0.as_bytes(), token.as_bytes())
    }
}

/// HMAC (RFC 2104) over SHA-256, for a key of at most one block.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut padded = [0u8; BLOCK];
    padded[..key.len()].copy_from_slice(key);
    let inner_pad: Vec<u8> = padded.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = padded.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_and_tokens_follow_the_key() {
        // RFC 4231 test case 2 has a 4-byte key; pad ours the same way (zeros to 32 bytes
        // give the same HMAC, since HMAC pads the key with zeros to a block).
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = PeerToken::derive(&[1; 32]);
        assert!(a.matches(PeerToken::derive(&[1; 32]).as_str()));
        assert!(!a.matches(PeerToken::derive(&[2; 32]).as_str()));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
