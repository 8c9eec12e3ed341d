//! Properties of query-string parsing (`qs`) and templates, checked on generated input.
//!
//! The cases stay at proptest's default count so the suite stays fast; the `fuzz/` crate
//! explores the same functions for longer.

use hookflow_shared::qs::{self, MAX_DEPTH, MAX_INDEX};
use hookflow_shared::template::{self, Template, TextTemplate, Variables};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// A key or value that `form_urlencoded` leaves as it is and `qs` reads as a plain name.
fn plain() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9]{0,8}"
}

/// Text rich in the characters templates, paths and query strings care about.
fn template_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{{".to_owned()),
            Just("}}".to_owned()),
            Just("$context".to_owned()),
            Just("$jobsMapByNodeKey".to_owned()),
            Just("$scopes".to_owned()),
            Just("$system.now".to_owned()),
            Just("$env".to_owned()),
            Just(".".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(":".to_owned()),
            Just(" ".to_owned()),
            "[a-z0-9]{1,3}",
            any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// Any JSON value, a few levels deep, with non-ASCII text and floats.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((".{0,8}", inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `{"k1": {"k2": … {"kn": leaf}}}`.
fn nest(keys: &[String], leaf: Value) -> Value {
    keys.iter().rev().fold(leaf, |inner, key| json!({ key: inner }))
}

fn brackets(keys: &[String]) -> String {
    keys.iter().map(|k| format!("[{k}]")).collect()
}

proptest! {
    #[test]
    fn qs_parse_never_panics(input in any::<String>()) {
        let parsed = qs::parse(&input);
        prop_assert!(parsed.is_object());
    }

    #[test]
    fn qs_parse_never_panics_on_bracketed_keys(input in "([a-z0-9]{0,3}|\\[|\\]|=|&|%5B|%5D|\\+|%)*") {
        let parsed = qs::parse(&input);
        prop_assert!(parsed.is_object());
    }

    #[test]
    fn qs_plain_pairs_round_trip(pairs in proptest::collection::btree_map(plain(), plain(), 0..12)) {
        let input: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let expected: Map<String, Value> =
            pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        prop_assert_eq!(qs::parse(&input.join("&")), Value::Object(expected));
    }

    #[test]
    fn qs_encoded_pairs_round_trip(key in "[^\\[]{1,12}", value in any::<String>()) {
        let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        // Encoded, `?`, `&`, `=` and `+` inside the key or value are data, not syntax.
        let parsed = qs::parse(&format!("{}={}", encode(&key), encode(&value)));
        prop_assert_eq!(parsed, json!({ key: value }));
    }

    #[test]
    fn qs_nesting_up_to_the_depth_limit(
        top in plain(),
        keys in proptest::collection::vec(plain(), 1..=MAX_DEPTH),
        value in plain(),
    ) {
        let parsed = qs::parse(&format!("{top}{}={value}", brackets(&keys)));
        prop_assert_eq!(parsed, json!({ top: nest(&keys, Value::String(value)) }));
    }

    #[test]
    fn qs_brackets_past_the_depth_limit_are_one_literal_key(
        top in plain(),
        keys in proptest::collection::vec(plain(), MAX_DEPTH + 1..MAX_DEPTH + 6),
    ) {
        let (kept, rest) = keys.split_at(MAX_DEPTH);
        let mut path = kept.to_vec();
        path.push(brackets(rest));
        let parsed = qs::parse(&format!("{top}{}=v", brackets(&keys)));
        prop_assert_eq!(parsed, json!({ top: nest(&path, json!("v")) }));
    }

    #[test]
    fn qs_array_positions_up_to_the_limit(index in 0..=MAX_INDEX) {
        prop_assert_eq!(qs::parse(&format!("a[{index}]=x")), json!({"a": ["x"]}));
    }

    #[test]
    fn qs_larger_positions_are_object_keys(index in MAX_INDEX + 1..=usize::MAX) {
        prop_assert_eq!(qs::parse(&format!("a[{index}]=x")), json!({"a": { index.to_string(): "x" }}));
    }

    #[test]
    fn template_text_without_placeholders_is_unchanged(text in "([^{]|\\{[^{])*\\{?") {
        prop_assume!(!text.contains("{{"));
        let context = json!({"a": 1});
        let (jobs, scopes) = (Map::new(), Map::new());
        let variables = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        prop_assert_eq!(template::check(&text), Ok(()));
        prop_assert_eq!(variables.render(&Template::compile(&Value::String(text.clone()))).expect("small values render within the limit"), Value::String(text.clone()));
        prop_assert_eq!(variables.render_text(&TextTemplate::compile(&text)).expect("small values render within the limit"), text.clone());
        let value = json!({ text.clone(): [text.clone(), 1] });
        prop_assert_eq!(variables.render(&Template::compile(&value)).expect("small values render within the limit"), value);
    }

    #[test]
    fn template_lone_placeholder_yields_the_stored_value(
        key in "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        stored in json_value(),
        padded in any::<bool>(),
    ) {
        let context = json!({ key.clone(): stored.clone() });
        let (jobs, scopes) = (Map::new(), Map::new());
        let variables = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        let text = if padded { format!("{{{{ $context.{key} }}}}") } else { format!("{{{{$context.{key}}}}}") };
        prop_assert_eq!(template::check(&text), Ok(()));
        prop_assert_eq!(variables.render(&Template::compile(&Value::String(text.clone()))).expect("small values render within the limit"), stored);
    }

    #[test]
    fn template_check_and_render_never_panic(text in template_like(), context in json_value()) {
        let jobs = context.as_object().cloned().unwrap_or_default();
        let variables = Variables { context: &context, jobs: &jobs, scopes: &jobs };
        let checked = template::check(&text);
        let rendered = variables.render(&Template::compile(&Value::String(text.clone()))).expect("small values render within the limit");
        let as_text = variables.render_text(&TextTemplate::compile(&text)).expect("small values render within the limit");
        if matches!(checked, Err(template::TemplateError::Unclosed | template::TemplateError::Empty)) {
            // A template that does not scan is left as it is.
            prop_assert_eq!(rendered, Value::String(text.clone()));
            prop_assert_eq!(as_text, text.clone());
        }
        let problems = template::check_value(&json!({ text.clone(): [text.clone()] }));
        prop_assert_eq!(problems.len(), if checked.is_ok() { 0 } else { 2 });
    }

    #[test]
    fn template_check_never_panics_on_any_string(text in any::<String>()) {
        let _ = template::check(&text);
        let (context, jobs) = (Value::Null, Map::new());
        let variables = Variables { context: &context, jobs: &jobs, scopes: &jobs };
        let _ = variables.render(&Template::compile(&Value::String(text.clone()))).expect("small values render within the limit");
    }
}
