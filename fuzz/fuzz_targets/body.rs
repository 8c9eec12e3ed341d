//! Fuzzes webhook body parsing (`hookflow_shared::body::parse`) under each kind of declared
//! content type: JSON, `*/*+json`, form, multipart, XML, another type, and none; and the
//! XML and multipart conversions on their own (`body::xml::to_json`, `body::multipart`).
//!
//! Input: the first byte picks the content type (modulo 8), the rest is the body.
#![no_main]

use bytes::Bytes;
use hookflow_shared::body::{self, BodyKind, Parsed, MAX_DEPTH};
use hookflow_shared::qs;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/vnd.x+json"),
    Some("text/plain"),
    None,
    Some("multipart/form-data; boundary=XyZ"),
    Some("text/xml"),
    Some("application/soap+xml"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, raw)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let kind = BodyKind::of(content_type);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let parsed = runtime.block_on(body::parse(&kind, Bytes::copy_from_slice(raw)));
    // The estimate made before parsing is always computable.
    let _ = body::parse_cost(&kind, raw);
    if raw.is_empty() {
        assert_eq!(parsed, Ok(Parsed { body: Value::Object(Map::new()), structured: true }), "an empty body is {{}}");
        return;
    }
    match &kind {
        BodyKind::Json => {
            // Declared JSON is accepted exactly when it is JSON, and read as serde_json reads it.
            let expected = serde_json::from_slice::<Value>(raw).ok();
            assert_eq!(parsed.ok().map(|p| p.body), expected, "declared JSON");
        }
        BodyKind::Form => {
            let expected = std::str::from_utf8(raw).ok().map(qs::parse);
            assert_eq!(parsed.ok().map(|p| p.body), expected, "form body");
        }
        BodyKind::Other => {
            // Never refused: JSON when it parses, else {} (and the text stays in rawBody).
            let parsed = parsed.expect("bodies of other types are never refused");
            match serde_json::from_slice::<Value>(raw) {
                Ok(json) => assert_eq!(parsed, Parsed { body: json, structured: true }),
                Err(_) => assert_eq!(parsed, Parsed { body: Value::Object(Map::new()), structured: false }),
            }
        }
        BodyKind::Xml => {
            if let Ok(parsed) = parsed {
                // One root element, nesting within the limit.
                let root = parsed.body.as_object().expect("an XML document is an object");
                assert_eq!(root.len(), 1);
                assert!(depth(&parsed.body) <= MAX_DEPTH, "an XML body past the queue's nesting limit");
                assert!(!parsed.structured);
            }
        }
        BodyKind::Multipart(_) => {
            if let Ok(parsed) = parsed {
                assert!(parsed.body.is_object());
                // {name: [{filename, contentType, size}, …]}: a repeated file field is four levels.
                assert!(depth(&parsed.body) <= 4);
            }
        }
    }
});

fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((value, level)) = pending.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(map) => pending.extend(map.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}
