//! Fuzzes `{{ … }}` templates: `template::check`, `template::check_value`, and rendering with
//! `template::Variables` (`render_str`, `render_text`, `render_value`).
//!
//! Input: `TEMPLATE` or `TEMPLATE\0JSON`. The JSON (when it parses) is `$context`, and, when
//! it is an object, also `$jobsMapByNodeKey` and `$scopes`; it is also rendered as a value.
#![no_main]

use hookflow_shared::template::{self, TemplateError, Variables};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

fuzz_target!(|data: &[u8]| {
    let (text, json) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let text = String::from_utf8_lossy(text);
    let context = json
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .unwrap_or_else(|| json!({"body": {"amount": 42, "name": "Zoë"}, "query": {"ids": ["1", "2"]}}));
    let maps = context.as_object().cloned().unwrap_or_default();
    let variables = Variables { context: &context, jobs: &maps, scopes: &maps };

    let checked = template::check(&text);
    let rendered = variables.render_str(&text).expect("small values render within the limit");
    let as_text = variables.render_text(&text).expect("small values render within the limit");
    if !text.contains("{{") {
        assert_eq!(checked, Ok(()));
        assert_eq!(rendered, Value::String(text.to_string()));
        assert_eq!(as_text, text);
    }
    if matches!(checked, Err(TemplateError::Unclosed | TemplateError::Empty)) {
        // A template that does not scan is left as it is.
        assert_eq!(rendered, Value::String(text.to_string()));
        assert_eq!(as_text, text);
    }
    if !rendered.is_string() {
        // Only a lone placeholder yields a typed value.
        assert!(text.starts_with("{{") && text.ends_with("}}"), "{text:?} rendered to {rendered}");
    }

    // The same text as a value: a string in a list, and an object key.
    let wrapped = json!({ text.as_ref(): [text.as_ref()] });
    let problems = template::check_value(&wrapped);
    assert_eq!(problems.len(), if checked.is_ok() { 0 } else { 2 }, "{problems:?}");
    let rendered_value = variables.render_value(&wrapped).expect("small values render within the limit");
    assert_eq!(rendered_value.as_object().map(Map::len), Some(1));
    if !text.contains("$system") {
        // `$system.now` may tick between two renderings; everything else renders the same.
        assert_eq!(rendered_value.as_object().and_then(|m| m.values().next()), Some(&json!([rendered])));
    }

    // The context itself as a template.
    let _ = template::check_value(&context);
    let rendered_context = variables.render_value(&context).expect("small values render within the limit");
    if !has_braces(&context) {
        assert_eq!(rendered_context, context);
    }

    // A lone placeholder for each simple top-level key yields exactly the stored value.
    for (key, stored) in maps.iter().take(8) {
        let simple = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if simple {
            assert_eq!(&variables.render_str(&format!("{{{{$context.{key}}}}}")).expect("small values render within the limit"), stored);
            assert_eq!(&variables.render_str(&format!("{{{{ $jobsMapByNodeKey.{key} }}}}")).expect("small values render within the limit"), stored);
        }
    }
});

/// Whether any string or object key inside `value` contains `{{`.
fn has_braces(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{"),
        Value::Array(items) => items.iter().any(has_braces),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains("{{") || has_braces(v)),
        _ => false,
    }
}
