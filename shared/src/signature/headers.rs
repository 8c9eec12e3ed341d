//! Reading signatures and timestamps out of the headers providers send. Each parser takes the
//! header's text as the caller sent it and returns `None` (or nothing) for what it cannot
//! read; none of them panics or allocates more than the header's own size.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::spec::Encoding;

/// `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]` (other schemes ignored): the timestamp and
/// every readable `v1` signature; `None` without a timestamp or without one.
pub fn stripe(value: &str) -> Option<(i64, Vec<Vec<u8>>)> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        let Some((name, content)) = item.split_once('=') else { continue };
        match name.trim() {
            "t" => timestamp = timestamp.or_else(|| unix_seconds(content)),
            "v1" => signatures.extend(hex::decode(content.trim()).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp?;
    (!signatures.is_empty()).then_some((timestamp, signatures))
}

/// `webhook-signature: v1,<base64> [v1,<base64> …]` (Standard Webhooks): every readable `v1`
/// signature; other versions are ignored.
pub fn standard_webhooks(value: &str) -> Vec<Vec<u8>> {
    value
        .split_ascii_whitespace()
        .filter_map(|item| item.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect()
}

/// A MAC written as `<prefix><encoded>`: GitHub's `sha256=<hex>`, Slack's `v0=<hex>`,
/// Shopify's bare base64, the generic preset's configured form.
pub fn prefixed(value: &str, prefix: &str, encoding: Encoding) -> Option<Vec<u8>> {
    let encoded = value.trim().strip_prefix(prefix)?;
    decode(encoded, encoding)
}

/// Hex (any case) or standard base64.
pub fn decode(encoded: &str, encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(encoded.trim()).ok(),
        Encoding::Base64 => STANDARD.decode(encoded.trim()).ok(),
    }
}

/// Unix seconds, as every timestamped preset writes them.
pub fn unix_seconds(value: &str) -> Option<i64> {
    let text = value.trim();
    // Digits only: `+5`, `0x10` or a fraction are not what any provider sends.
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_headers() {
        let (t, sigs) = stripe("t=1492774577,v1=5257a869,v0=6ffbb59b,v1=00ff").unwrap();
        assert_eq!(t, 1492774577);
        assert_eq!(sigs, vec![vec![0x52, 0x57, 0xa8, 0x69], vec![0x00, 0xff]]);
        assert_eq!(stripe("v1=5257a869"), None, "no timestamp");
        assert_eq!(stripe("t=1492774577,v0=5257a869"), None, "no v1");
        assert_eq!(stripe("t=1492774577,v1=zz"), None, "no readable v1");
        assert_eq!(stripe("t=-1,v1=00"), None);
        assert_eq!(stripe(""), None);
    }

    #[test]
    fn standard_webhooks_headers() {
        assert_eq!(standard_webhooks("v1,AAE= v2,AAA= v1,bad! v1a,AA== v1,Ag=="), vec![vec![0, 1], vec![2]]);
        assert!(standard_webhooks("").is_empty());
    }

    #[test]
    fn prefixed_macs() {
        assert_eq!(prefixed("sha256=0A0b", "sha256=", Encoding::Hex), Some(vec![10, 11]));
        assert_eq!(prefixed("sha1=0a0b", "sha256=", Encoding::Hex), None);
        assert_eq!(prefixed("AAE=", "", Encoding::Base64), Some(vec![0, 1]));
        assert_eq!(prefixed("AAE", "", Encoding::Base64), None, "padding is required");
    }

    #[test]
    fn timestamps() {
        assert_eq!(unix_seconds(" 1531420618 "), Some(1531420618));
        for bad in ["", "+5", "-5", "1.5", "0x10", "9999999999999"] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
