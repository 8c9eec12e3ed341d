//! Fuzzes webhook body parsing (`hookflow_ingress::routes::webhook::request::parse_body`)
//! under each kind of declared content type: JSON, `*/*+json`, form, another type, and none.
//!
//! Input: the first byte picks the content type (modulo 5), the rest is the body.
#![no_main]

use hookflow_ingress::routes::webhook::request::parse_body;
use hookflow_shared::qs;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/vnd.x+json"),
    Some("text/plain"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let parsed = parse_body(content_type, body);
    if body.is_empty() {
        assert_eq!(parsed.ok(), Some(Value::Object(Map::new())), "an empty body is {{}}");
        return;
    }
    match content_type {
        Some("application/json" | "application/vnd.x+json") => {
            // Declared JSON is accepted exactly when it is JSON, and read as serde_json reads it.
            let expected = serde_json::from_slice::<Value>(body).ok();
            assert_eq!(parsed.ok(), expected, "declared JSON");
        }
        Some("application/x-www-form-urlencoded") => {
            let expected = std::str::from_utf8(body).ok().map(qs::parse);
            assert_eq!(parsed.ok(), expected, "form body");
        }
        _ => {
            // Other types are refused today; SPEC §4 reads them as JSON when they parse, else {}.
            if let Ok(value) = parsed {
                let json = serde_json::from_slice::<Value>(body).ok();
                assert!(json.as_ref() == Some(&value) || value == Value::Object(Map::new()), "{value}");
            }
        }
    }
});
