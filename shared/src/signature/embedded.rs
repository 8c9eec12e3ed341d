//! Presets whose signature travels inside the body: Adyen (an HMAC per notification item) and
//! T-Bank (a `Token` hash over the root fields and the terminal password). The body is read
//! here only to find what is signed; a body that cannot be read carries no signature.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::mac::{any_matches, hmac};
use super::spec::Algorithm;
use super::SignatureError;

/// Adyen standard notifications: every `notificationItems[].NotificationRequestItem` carries
/// `additionalData.hmacSignature`, base64 HMAC-SHA256 (key: the hex-decoded HMAC key) of
/// `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`,
/// missing fields empty and nothing escaped (as Adyen's own libraries build it). All items
/// must verify: one forged item must not ride along with a genuine one.
pub fn adyen(body: &[u8], keys: &[Vec<u8>]) -> Result<(), SignatureError> {
    let document: Value = serde_json::from_slice(body).map_err(|_| SignatureError::Missing)?;
    let items = document.get("notificationItems").and_then(Value::as_array).ok_or(SignatureError::Missing)?;
    if items.is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut signed = Vec::with_capacity(items.len());
    for item in items {
        let item = item.get("NotificationRequestItem").ok_or(SignatureError::Missing)?;
        let sent = item
            .pointer("/additionalData/hmacSignature")
            .and_then(Value::as_str)
            .and_then(|text| STANDARD.decode(text.trim()).ok())
            .ok_or(SignatureError::Missing)?;
        signed.push((adyen_data(item), sent));
    }
    let all_match = signed.iter().all(|(data, sent)| {
        keys.iter().any(|key| {
            any_matches(&hmac(Algorithm::Sha256, key, &[data.as_bytes()]), std::slice::from_ref(sent))
        })
    });
    if all_match {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// The string Adyen signs for one notification item.
pub fn adyen_data(item: &Value) -> String {
    let field = |pointer: &str| match item.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    [
        "/pspReference",
        "/originalReference",
        "/merchantAccountCode",
        "/merchantReference",
        "/amount/value",
        "/amount/currency",
        "/eventCode",
        "/success",
    ]
    .iter()
    .map(|pointer| field(pointer))
    .collect::<Vec<_>>()
    .join(":")
}

/// T-Bank (Tinkoff) acquiring notifications: `Token` is the lowercase hex SHA-256 of the
/// root-level scalar values, `Password` added, sorted by key and concatenated; `Token` itself,
/// nulls, objects and arrays take no part. Numbers are hashed as written in the body (a
/// re-serialised number could differ from what T-Bank hashed).
pub fn tbank(body: &[u8], passwords: &[Vec<u8>]) -> Result<(), SignatureError> {
    // One pass over the body: each root value is kept as its text and read only as far as
    // its kind needs. The map is ordered by key, as the hash wants.
    let fields: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|_| SignatureError::Missing)?;
    let sent = fields
        .get("Token")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .and_then(|token| hex::decode(token.trim()).ok())
        .ok_or(SignatureError::Missing)?;
    let mut values: Vec<(&str, String)> = Vec::with_capacity(fields.len() + 1);
    for (key, raw) in &fields {
        let text = raw.get();
        let value = match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(text).map_err(|_| SignatureError::Missing)?,
            Some(b't' | b'f') => text.to_owned(),
            // Numbers hash as written: a re-serialised number could differ from T-Bank's.
            Some(b'-' | b'0'..=b'9') => text.to_owned(),
            // null, objects and arrays take no part.
            _ => continue,
        };
        if key != "Token" {
            values.push((key.as_str(), value));
        }
    }
    let matched = passwords.iter().any(|password| {
        let mut entries: Vec<(&str, &[u8])> = values.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        entries.push(("Password", password));
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut digest = Sha256::new();
        for (_, value) in entries {
            digest.update(value);
        }
        bool::from(digest.finalize().as_slice().ct_eq(&sent))
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// A form body with `+` and `%XX` decoded (CloudPayments' `X-Content-HMAC` is computed over
/// the decoded parameters).
pub fn url_decoded(body: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = body.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&spaced).collect()
}
