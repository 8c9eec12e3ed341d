//! The authenticated wire form of a [`Reply`] between processes (distributed mode):
//!
//! ```text
//! <MAC: 64 lowercase hex digits> "." <the reply's JSON>
//! ```
//!
//! The MAC ([`crate::message_auth`], reply key) covers exactly the JSON bytes after the dot.
//! [`open`] checks it before it parses anything, then accepts only replies a caller may be sent:
//! a status of 200–599 and headers that are valid HTTP names and values. Whatever fails is
//! refused as a whole; the reason never quotes the message's content.

use crate::message_auth::{MacError, MessageKey, MAC_HEX_LEN};
use crate::model::{is_valid_header_name, is_valid_header_value};

use super::Reply;

/// Why a reply message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not authenticated: {0}")]
    Unauthenticated(#[from] MacError),
    /// Authenticated but not a reply; only the position is kept, never the text around it.
    #[error("not a reply (JSON error at line {line}, column {column})")]
    Unreadable { line: usize, column: usize },
    #[error("status {0} is outside 200-599")]
    Status(u16),
    #[error("header {0} has an invalid name or value")]
    Header(usize),
}

/// The wire form of `reply` under `key`.
pub fn seal(key: &MessageKey, reply: &Reply) -> serde_json::Result<Vec<u8>> {
    let json = serde_json::to_vec(reply)?;
    let mut message = Vec::with_capacity(MAC_HEX_LEN + 1 + json.len());
    message.extend_from_slice(key.sign(&json).as_bytes());
    message.push(b'.');
    message.extend_from_slice(&json);
    Ok(message)
}

/// The reply in `message`, when its MAC verifies under `key` and its content may be sent.
pub fn open(key: &MessageKey, message: &[u8]) -> Result<Reply, Refused> {
    let (mac, json) = match message.get(MAC_HEX_LEN) {
        Some(b'.') => (Some(&message[..MAC_HEX_LEN]), &message[MAC_HEX_LEN + 1..]),
        // No "<mac>." prefix: a bare reply, or anything else.
        _ => (None, message),
    };
    key.verify(json, mac)?;
    let reply: Reply = serde_json::from_slice(json)
        .map_err(|error| Refused::Unreadable { line: error.line(), column: error.column() })?;
    if !(200..=599).contains(&reply.status_code) {
        return Err(Refused::Status(reply.status_code));
    }
    if let Some(i) =
        reply.headers.iter().position(|h| !is_valid_header_name(&h.name) || !is_valid_header_value(&h.value))
    {
        return Err(Refused::Header(i));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_auth::{MessageKeys, Purpose};
    use crate::model::Header;
    use serde_json::json;
    use uuid::Uuid;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn reply(status_code: u16, headers: Vec<Header>) -> Reply {
        Reply { execution_id: Uuid::now_v7(), status_code, headers, body: json!({"ok": true}) }
    }

    fn key() -> MessageKey {
        MessageKey::derive(KEY, Purpose::Reply)
    }

    #[test]
    fn a_sealed_reply_opens() {
        let sent = reply(201, vec![Header { name: "X-Ack".into(), value: "1".into() }]);
        let message = seal(&key(), &sent).unwrap();
        assert_eq!(message[MAC_HEX_LEN], b'.');
        assert_eq!(open(&key(), &message), Ok(sent));
    }

    #[test]
    fn unauthenticated_replies_are_refused() {
        let sent = reply(200, vec![]);
        let bare = serde_json::to_vec(&sent).unwrap();
        assert_eq!(open(&key(), &bare), Err(Refused::Unauthenticated(MacError::Missing)));
        let wrong = MessageKey::derive("another-key-of-32-characters-xyz", Purpose::Reply);
        let forged = seal(&wrong, &sent).unwrap();
        assert_eq!(open(&key(), &forged), Err(Refused::Unauthenticated(MacError::Mismatch)));
        let envelope_key = MessageKeys::derive(KEY).envelope;
        let other_purpose = seal(&envelope_key, &sent).unwrap();
        assert_eq!(open(&key(), &other_purpose), Err(Refused::Unauthenticated(MacError::Mismatch)));

        let mut tampered = seal(&key(), &sent).unwrap();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert!(matches!(open(&key(), &tampered), Err(Refused::Unauthenticated(MacError::Mismatch))));
        assert!(open(&key(), b"").is_err());
        assert!(open(&key(), &[b'.'; 65]).is_err());
    }

    #[test]
    fn authenticated_but_unacceptable_replies_are_refused() {
        let sign = |json: &[u8]| {
            let mut message = key().sign(json).into_bytes();
            message.push(b'.');
            message.extend_from_slice(json);
            message
        };
        assert!(matches!(open(&key(), &sign(b"{\"secret\": 1")), Err(Refused::Unreadable { .. })));
        let text = open(&key(), &sign(b"[\"s3cret-value\"]")).unwrap_err().to_string();
        assert!(!text.contains("s3cret-value"), "{text}");
        for status in [0, 199, 600, 1000] {
            let message = seal(&key(), &reply(status, vec![])).unwrap();
            assert_eq!(open(&key(), &message), Err(Refused::Status(status)));
        }
        for (name, value) in [("Bad Name", "1"), ("X-Ok", "a\r\nb"), ("", "1")] {
            let headers = vec![
                Header { name: "X-Fine".into(), value: "1".into() },
                Header { name: name.into(), value: value.into() },
            ];
            let message = seal(&key(), &reply(200, headers)).unwrap();
            assert_eq!(open(&key(), &message), Err(Refused::Header(1)), "{name:?}: {value:?}");
        }
    }
}
