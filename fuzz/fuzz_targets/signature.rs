//! Fuzzes webhook signature checking (`hookflow_shared::signature`): the header parsers of
//! every preset, the body-embedded presets (Adyen, T-Bank) and `Verifier::verify` as a whole.
//!
//! Input: `PRESET HEADER\0TIMESTAMP-HEADER\0BODY`; the first byte picks the preset, the header
//! text goes to every header the preset reads. A correct signature computed for the fuzzed
//! body must always verify, and a forged one must never.
#![no_main]

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use hookflow_shared::signature::mac::hmac;
use hookflow_shared::signature::{embedded, headers, Algorithm, Encoding, SignatureError, SignatureSpec, Verifier};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const PRESETS: [&str; 9] =
    ["stripe", "github", "shopify", "standard-webhooks", "slack", "cloudpayments", "adyen", "tbank", "hmac"];
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ADYEN_KEY: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const NOW: i64 = 1_700_000_000;

fn verifier(preset: &str) -> Verifier {
    let secret = if preset == "adyen" { ADYEN_KEY } else { SECRET };
    let mut spec = json!({"preset": preset, "secrets": [secret]});
    if preset == "hmac" {
        spec = json!({"preset": "hmac", "secrets": [SECRET], "header": "x-signature", "algorithm": "sha1",
            "encoding": "base64", "prefix": "s=", "timestampHeader": "x-ts", "payload": "{timestamp}|{body}"});
    }
    let spec: SignatureSpec = serde_json::from_value(spec).unwrap();
    Verifier::compile(&spec).unwrap()
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    map
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let preset = PRESETS[usize::from(selector) % PRESETS.len()];
    let mut parts = rest.splitn(3, |b| *b == 0);
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let timestamp = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();

    // The parsers on their own.
    let _ = headers::stripe(&header);
    let _ = headers::standard_webhooks(&header);
    let _ = headers::prefixed(&header, "sha256=", Encoding::Hex);
    let _ = headers::prefixed(&header, "", Encoding::Base64);
    let _ = headers::unix_seconds(&timestamp);
    let _ = embedded::url_decoded(body);
    if let Ok(item) = serde_json::from_slice(body) {
        let _ = embedded::adyen_data(&item);
    }

    // The whole check, with the fuzzed header in every place the preset reads.
    let v = verifier(preset);
    let names = [
        "stripe-signature", "x-hub-signature-256", "x-shopify-hmac-sha256", "webhook-id", "webhook-signature",
        "svix-id", "svix-signature", "x-slack-signature", "content-hmac", "x-content-hmac", "x-signature",
    ];
    let mut pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, header.as_str())).collect();
    for name in ["webhook-timestamp", "svix-timestamp", "x-slack-request-timestamp", "x-ts"] {
        pairs.push((name, timestamp.as_str()));
    }
    let first = v.verify(&header_map(&pairs), body, NOW);
    assert_eq!(first, v.verify(&header_map(&pairs), body, NOW), "verification is deterministic");

    // A correct GitHub signature of the fuzzed body verifies; one bit off never does.
    let github = verifier("github");
    let mac = hmac(Algorithm::Sha256, SECRET.as_bytes(), &[body]);
    let good: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    let ok = header_map(&[("x-hub-signature-256", &format!("sha256={good}"))]);
    assert_eq!(github.verify(&ok, body, NOW), Ok(()));
    let mut forged_mac = mac.clone();
    let flipped = usize::from(selector) % forged_mac.len();
    forged_mac[flipped] ^= 1;
    let forged: String = forged_mac.iter().map(|b| format!("{b:02x}")).collect();
    let bad = header_map(&[("x-hub-signature-256", &format!("sha256={forged}"))]);
    assert_eq!(github.verify(&bad, body, NOW), Err(SignatureError::Invalid));
});
