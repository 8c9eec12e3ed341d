//! Authentication of what Hookflow's processes send each other in distributed mode: queue
//! envelopes (ingress → worker, over RabbitMQ) and sync replies (worker → ingress, over Redis).
//! Whoever can write to the broker or to Redis could otherwise start executions of any
//! workflow or answer a waiting caller in the workflow's name.
//!
//! Every message carries an HMAC-SHA256 of its exact bytes, as 64 lowercase hex digits. The keys
//! are derived from `HOOKFLOW_INTERNAL_KEY`, one per [`Purpose`]: the subkey is
//! HMAC-SHA256(internal key, label) with the labels `hookflow/envelope/v1` and
//! `hookflow/reply/v1`, so a MAC made for a reply never verifies as an envelope (nor the other
//! way round), and a new label version can replace a scheme without a new setting.
//!
//! Receivers check the MAC, in constant time, before they parse anything. A MAC proves that a
//! holder of the key sent those bytes; it does not make them fresh (a copied genuine message
//! verifies again). Where the MAC travels is the transport's business: an AMQP header for
//! envelopes ([`crate::queue`]), a prefix for replies ([`crate::reply`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of a MAC on the wire: 32 bytes as hex.
pub const MAC_HEX_LEN: usize = 64;

/// What a key authenticates; each purpose has a key of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `execute.v1` envelopes on the execution queues.
    Envelope,
    /// Sync replies on the reply channels.
    Reply,
}

impl Purpose {
    /// The derivation label; changing it changes every key of that purpose.
    fn label(self) -> &'static [u8] {
        match self {
            Self::Envelope => b"hookflow/envelope/v1",
            Self::Reply => b"hookflow/reply/v1",
        }
    }
}

/// Why a message is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("it carries no MAC")]
    Missing,
    #[error("its MAC is not {MAC_HEX_LEN} hex digits")]
    Malformed,
    #[error("its MAC does not match")]
    Mismatch,
}

/// A derived key for one [`Purpose`]. Cheap to clone; never printed.
#[derive(Clone)]
pub struct MessageKey {
    purpose: Purpose,
    key: [u8; 32],
}

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageKey").field("purpose", &self.purpose).finish_non_exhaustive()
    }
}

impl MessageKey {
    /// The key of `purpose` under `internal_key` (`HOOKFLOW_INTERNAL_KEY`).
    pub fn derive(internal_key: &str, purpose: Purpose) -> Self {
        let mut mac = new_mac(internal_key.as_bytes());
        mac.update(purpose.label());
        Self { purpose, key: mac.finalize().into_bytes().into() }
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The MAC of `payload`, as lowercase hex.
    pub fn sign(&self, payload: &[u8]) -> String {
        let mut mac = new_mac(&self.key);
        mac.update(payload);
        let digest = mac.finalize().into_bytes();
        let mut text = String::with_capacity(MAC_HEX_LEN);
        for byte in digest {
            text.push(HEX[usize::from(byte >> 4)] as char);
            text.push(HEX[usize::from(byte & 0x0f)] as char);
        }
        text
    }

    /// Whether `mac` (hex, any case) is the MAC of `payload` under this key; the comparison
    /// takes the same time wherever the first difference is.
    pub fn verify(&self, payload: &[u8], mac: Option<&[u8]>) -> Result<(), MacError> {
        let given = decode_hex(mac.ok_or(MacError::Missing)?).ok_or(MacError::Malformed)?;
        let mut expected = new_mac(&self.key);
        expected.update(payload);
        expected.verify_slice(&given).map_err(|_| MacError::Mismatch)
    }
}

/// Both keys of a process, derived once at start.
#[derive(Debug, Clone)]
pub struct MessageKeys {
    pub envelope: MessageKey,
    pub reply: MessageKey,
}

impl MessageKeys {
    pub fn derive(internal_key: &str) -> Self {
        Self {
            envelope: MessageKey::derive(internal_key, Purpose::Envelope),
            reply: MessageKey::derive(internal_key, Purpose::Reply),
        }
    }
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// 64 hex digits as 32 bytes; anything else is `None`.
fn decode_hex(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != MAC_HEX_LEN {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_payload_verifies() {
        let key = MessageKey::derive(KEY, Purpose::Envelope);
        let mac = key.sign(b"{\"type\":\"execute.v1\"}");
        assert_eq!(mac.len(), MAC_HEX_LEN);
        assert!(mac.bytes().all(|b| HEX.contains(&b)));
        assert_eq!(key.verify(b"{\"type\":\"execute.v1\"}", Some(mac.as_bytes())), Ok(()));
        let upper = mac.to_ascii_uppercase();
        assert_eq!(key.verify(b"{\"type\":\"execute.v1\"}", Some(upper.as_bytes())), Ok(()));
    }

    #[test]
    fn a_tampered_payload_fails() {
        let key = MessageKey::derive(KEY, Purpose::Reply);
        let mac = key.sign(b"{\"statusCode\":200}");
        assert_eq!(key.verify(b"{\"statusCode\":201}", Some(mac.as_bytes())), Err(MacError::Mismatch));
        assert_eq!(key.verify(b"{\"statusCode\":200} ", Some(mac.as_bytes())), Err(MacError::Mismatch));
    }

    #[test]
    fn a_wrong_key_fails() {
        let ours = MessageKey::derive(KEY, Purpose::Envelope);
        let theirs = MessageKey::derive("another-key-of-32-characters-xyz", Purpose::Envelope);
        let mac = theirs.sign(b"payload");
        assert_eq!(ours.verify(b"payload", Some(mac.as_bytes())), Err(MacError::Mismatch));
    }

    #[test]
    fn a_reply_key_never_verifies_an_envelope() {
        let keys = MessageKeys::derive(KEY);
        assert_ne!(keys.envelope.key, keys.reply.key);
        let mac = keys.reply.sign(b"payload");
        assert_eq!(keys.envelope.verify(b"payload", Some(mac.as_bytes())), Err(MacError::Mismatch));
        let mac = keys.envelope.sign(b"payload");
        assert_eq!(keys.reply.verify(b"payload", Some(mac.as_bytes())), Err(MacError::Mismatch));
        // The subkeys are not the internal key itself either.
        let raw = MessageKey { purpose: Purpose::Envelope, key: *b"0123456789abcdef0123456789abcdef" };
        assert_ne!(raw.sign(b"payload"), keys.envelope.sign(b"payload"));
    }

    #[test]
    fn a_missing_or_malformed_mac_fails() {
        let key = MessageKey::derive(KEY, Purpose::Envelope);
        assert_eq!(key.verify(b"payload", None), Err(MacError::Missing));
        assert_eq!(key.verify(b"payload", Some(b"")), Err(MacError::Malformed));
        assert_eq!(key.verify(b"payload", Some(b"abc")), Err(MacError::Malformed));
        let not_hex = "zz".repeat(32);
        assert_eq!(key.verify(b"payload", Some(not_hex.as_bytes())), Err(MacError::Malformed));
        let too_long = format!("{}00", key.sign(b"payload"));
        assert_eq!(key.verify(b"payload", Some(too_long.as_bytes())), Err(MacError::Malformed));
    }

    #[test]
    fn keys_are_never_printed() {
        let key = MessageKey::derive(KEY, Purpose::Reply);
        let printed = format!("{key:?} {:?}", MessageKeys::derive(KEY));
        assert!(!printed.contains(KEY) && !printed.contains("key:"), "{printed}");
    }
}
