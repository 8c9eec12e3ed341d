//! Fuzzes qs-style query-string and form parsing (`hookflow_shared::qs::parse`) and the path
//! listing of the admin "parse" button (`hookflow_shared::path::list_paths`) on its result.
//!
//! Input: any bytes, read as UTF-8 (invalid sequences replaced).
#![no_main]

use hookflow_shared::path::list_paths;
use hookflow_shared::qs::{self, MAX_PARAMS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let parsed = qs::parse(&input);
    let Value::Object(top) = &parsed else { panic!("qs::parse gave a non-object: {parsed}") };
    assert!(top.len() <= MAX_PARAMS);
    for (key, value) in top {
        // The top-level key is the text before the first bracket, or the whole key when it
        // starts with one.
        assert!(!key.is_empty(), "empty top-level key");
        assert!(key.starts_with('[') || !key.contains('['), "bracket left in top-level key {key:?}");
        check_leaves(value);
    }
    // The result travels inside `$context` as JSON (queue messages, the journal): it must read
    // back, within serde_json's nesting limit.
    let text = serde_json::to_string(&parsed).expect("a parsed query serializes");
    match serde_json::from_str::<Value>(&text) {
        Ok(back) => assert_eq!(back, parsed),
        Err(error) => panic!("qs::parse gave JSON that does not read back: {error}"),
    }

    let pairs = form_urlencoded::parse(input.strip_prefix('?').unwrap_or(&input).as_bytes())
        .take(MAX_PARAMS)
        .filter(|(key, _)| !key.is_empty() && key != qs::RESERVED_KEY);
    if pairs.clone().all(|(key, _)| !key.contains('[')) {
        // Without brackets every pair is one top-level string, repeated keys forming lists.
        let leaves: usize = top.values().map(|v| v.as_array().map_or(1, Vec::len)).sum();
        assert_eq!(leaves, pairs.count(), "pairs lost or invented in {parsed}");
        for value in top.values() {
            let strings = match value {
                Value::Array(items) => items.iter().all(Value::is_string),
                other => other.is_string(),
            };
            assert!(strings, "unbracketed keys gave nested data: {value}");
        }
    }

    let paths = list_paths(&parsed);
    assert!(paths.len() >= top.len());
});

/// Only strings, lists and objects, and `true` for a plain value given to a key that holds an
/// object (`a[b]=1&a=c` → `{"a": {"b": "1", "c": true}}`, as qs does).
fn check_leaves(value: &Value) {
    match value {
        Value::String(_) | Value::Bool(true) => {}
        Value::Array(items) => items.iter().for_each(check_leaves),
        Value::Object(map) => map.values().for_each(check_leaves),
        other => panic!("qs produced a non-string leaf {other}"),
    }
}
