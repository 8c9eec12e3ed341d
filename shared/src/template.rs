//! `{{ path }}` templates with NocoBase's semantics (SPEC §5).
//!
//! A string that is exactly one placeholder yields the raw typed value; any other string has
//! its placeholders interpolated as text (null and missing → ""). `{{path:default}}` gives a
//! default (read as JSON when it parses, else as text). Object keys are templated as text.
//! Roots: `$context`, `$jobsMapByNodeKey`, `$scopes`, `$system.now`, `$env.NAME`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::path::{Path, Segment};

/// The variable roots a placeholder may start with.
pub const ROOTS: &[&str] = &["$context", "$jobsMapByNodeKey", "$scopes", "$system", "$env"];

/// Prefix of the environment variables exposed as `$env.NAME`.
pub const ENV_PREFIX: &str = "HOOKFLOW_VAR_";

/// Why a template cannot be used; found when a workflow is saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed placeholder: \"{{{{\" without \"}}}}\"")]
    Unclosed,
    #[error("empty placeholder")]
    Empty,
    #[error("unknown variable {0:?}: a placeholder starts with one of $context, $jobsMapByNodeKey, $scopes, $system, $env")]
    UnknownRoot(String),
}

/// One `{{ … }}` found in a string.
#[derive(Debug, Clone, PartialEq)]
struct Placeholder<'s> {
    /// Byte range of the whole `{{ … }}` in the source.
    start: usize,
    end: usize,
    path: &'s str,
    default: Option<&'s str>,
}

/// Finds the placeholders of `text`, in order.
fn scan(text: &str) -> Result<Vec<Placeholder<'_>>, TemplateError> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let close = text[open + 2..].find("}}").map(|i| i + open + 2).ok_or(TemplateError::Unclosed)?;
        let inner = text[open + 2..close].trim();
        let (path, default) = match inner.split_once(':') {
            Some((path, default)) => (path.trim(), Some(default.trim())),
            None => (inner, None),
        };
        if path.is_empty() {
            return Err(TemplateError::Empty);
        }
        found.push(Placeholder { start: open, end: close + 2, path, default });
        from = close + 2;
    }
    Ok(found)
}

/// Byte ranges of the `{{ … }}` placeholders of `text`.
pub fn placeholder_spans(text: &str) -> Result<Vec<(usize, usize)>, TemplateError> {
    Ok(scan(text)?.into_iter().map(|p| (p.start, p.end)).collect())
}

/// Checks that every placeholder of `text` is well formed and names a known root.
pub fn check(text: &str) -> Result<(), TemplateError> {
    for placeholder in scan(text)? {
        let root = placeholder.path.split(['.', '[']).next().unwrap_or_default();
        if !ROOTS.contains(&root) {
            return Err(TemplateError::UnknownRoot(placeholder.path.to_owned()));
        }
    }
    Ok(())
}

/// Checks every string (and object key) inside a JSON value; problems come with their
/// JSON-path suffix (`.body.ok`, `[2]`).
pub fn check_value(value: &Value) -> Vec<(String, TemplateError)> {
    let mut problems = Vec::new();
    check_into(value, String::new(), &mut problems);
    problems
}

fn check_into(value: &Value, at: String, problems: &mut Vec<(String, TemplateError)>) {
    match value {
        Value::String(text) => {
            if let Err(e) = check(text) {
                problems.push((at, e));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_into(item, format!("{at}[{i}]"), problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let child = format!("{at}.{key}");
                if let Err(e) = check(key) {
                    problems.push((child.clone(), e));
                }
                check_into(item, child, problems);
            }
        }
        _ => {}
    }
}

/// Where placeholder values come from during one execution.
pub struct Variables<'a> {
    /// The trigger data: `{headers, query, body}` plus configured `_var`s.
    pub context: &'a Value,
    /// Latest job result per node key.
    pub jobs: &'a Map<String, Value>,
    /// Loop scopes per node key.
    pub scopes: &'a Map<String, Value>,
}

impl Variables<'_> {
    /// The value at a placeholder path, `None` when missing.
    pub fn resolve(&self, path: &str) -> Option<Cow<'_, Value>> {
        let Path(segments) = Path::parse(path);
        let (root, rest) = segments.split_first()?;
        let Segment::Key(root) = root else { return None };
        let base = match root.as_str() {
            "$context" => self.context,
            "$jobsMapByNodeKey" => return lookup_in_map(self.jobs, rest),
            "$scopes" => return lookup_in_map(self.scopes, rest),
            "$env" => return lookup_in_map(env_vars(), rest),
            "$system" => match rest {
                [Segment::Key(name)] if name == "now" => {
                    return Some(Cow::Owned(Value::String(now_iso8601())))
                }
                _ => return None,
            },
            _ => return None,
        };
        rest.iter().try_fold(base, crate::path::step).map(Cow::Borrowed)
    }

    /// Renders a string: a lone placeholder gives its typed value, anything else text.
    pub fn render_str(&self, text: &str) -> Value {
        let Ok(placeholders) = scan(text) else { return Value::String(text.to_owned()) };
        match placeholders.as_slice() {
            [] => Value::String(text.to_owned()),
            [only] if only.start == 0 && only.end == text.len() => self.value_of(only),
            _ => Value::String(self.interpolate(text, &placeholders)),
        }
    }

    /// Renders a string as text, whatever its placeholders hold.
    pub fn render_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match scan(text) {
            Ok(placeholders) if !placeholders.is_empty() => Cow::Owned(self.interpolate(text, &placeholders)),
            _ => Cow::Borrowed(text),
        }
    }

    /// Renders every string and object key inside a JSON value.
    pub fn render_value(&self, value: &Value) -> Value {
        match value {
            Value::String(text) => self.render_str(text),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.render_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter().map(|(k, v)| (self.render_text(k).into_owned(), self.render_value(v))).collect(),
            ),
            other => other.clone(),
        }
    }

    fn value_of(&self, placeholder: &Placeholder<'_>) -> Value {
        match self.resolve(placeholder.path) {
            Some(value) if !(value.is_null() && placeholder.default.is_some()) => value.into_owned(),
            _ => placeholder.default.map(parse_default).unwrap_or(Value::Null),
        }
    }

    fn interpolate(&self, text: &str, placeholders: &[Placeholder<'_>]) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        let mut last = 0;
        for placeholder in placeholders {
            out.push_str(&text[last..placeholder.start]);
            append_text(&mut out, &self.value_of(placeholder));
            last = placeholder.end;
        }
        out.push_str(&text[last..]);
        out
    }
}

fn lookup_in_map<'v>(map: &'v Map<String, Value>, rest: &[Segment]) -> Option<Cow<'v, Value>> {
    let (first, tail) = rest.split_first()?;
    let key = match first {
        Segment::Key(key) => Cow::Borrowed(key.as_str()),
        Segment::Index(i) => Cow::Owned(i.to_string()),
    };
    let start = map.get(key.as_ref())?;
    tail.iter().try_fold(start, crate::path::step).map(Cow::Borrowed)
}

/// A default is JSON when it parses (`0`, `true`, `"a:b"`), otherwise plain text.
fn parse_default(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Text form of a value inside a larger string: null → "", strings as they are, the rest as JSON.
pub fn append_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        other => out.push_str(&other.to_string()),
    }
}

fn now_iso8601() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `HOOKFLOW_VAR_*` variables, read once: `$env.NAME` is `HOOKFLOW_VAR_NAME`.
fn env_vars() -> &'static Map<String, Value> {
    static VARS: OnceLock<Map<String, Value>> = OnceLock::new();
    VARS.get_or_init(|| {
        let vars: HashMap<String, String> = std::env::vars()
            .filter_map(|(name, value)| Some((name.strip_prefix(ENV_PREFIX)?.to_owned(), value)))
            .collect();
        vars.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_vars<T>(f: impl FnOnce(&Variables<'_>) -> T) -> T {
        let context = json!({"body": {"amount": 42, "status": "paid", "tags": ["a", "b"], "none": null},
                             "query": {"id": "7"}});
        let jobs: Map<String, Value> = json!({"calc": 84, "obj": {"x": [1, 2]}}).as_object().unwrap().clone();
        let scopes: Map<String, Value> =
            json!({"loop1": {"item": "i", "index": 0}}).as_object().unwrap().clone();
        f(&Variables { context: &context, jobs: &jobs, scopes: &scopes })
    }

    #[test]
    fn lone_placeholder_keeps_its_type() {
        with_vars(|v| {
            assert_eq!(v.render_str("{{$context.body.amount}}"), json!(42));
            assert_eq!(v.render_str("{{ $context.body.tags }}"), json!(["a", "b"]));
            assert_eq!(v.render_str("{{$context.body}}")["status"], json!("paid"));
            assert_eq!(v.render_str("{{$jobsMapByNodeKey.calc}}"), json!(84));
            assert_eq!(v.render_str("{{$jobsMapByNodeKey.obj.x[1]}}"), json!(2));
            assert_eq!(v.render_str("{{$scopes.loop1.item}}"), json!("i"));
        });
    }

    #[test]
    fn interpolation_is_text() {
        with_vars(|v| {
            assert_eq!(
                v.render_str("order {{$context.query.id}}: {{$context.body.amount}}"),
                json!("order 7: 42")
            );
            assert_eq!(v.render_str("x{{$context.body.none}}y"), json!("xy"));
            assert_eq!(v.render_str("tags={{$context.body.tags}}"), json!("tags=[\"a\",\"b\"]"));
            assert_eq!(v.render_str("no placeholders"), json!("no placeholders"));
        });
    }

    #[test]
    fn missing_paths_and_defaults() {
        with_vars(|v| {
            assert_eq!(v.render_str("{{$context.body.missing}}"), Value::Null);
            assert_eq!(v.render_str("[{{$context.body.missing}}]"), json!("[]"));
            assert_eq!(v.render_str("{{$context.body.missing:0}}"), json!(0));
            assert_eq!(v.render_str("{{$context.body.missing:pending}}"), json!("pending"));
            assert_eq!(v.render_str("{{$context.body.none:\"a:b\"}}"), json!("a:b"));
            assert_eq!(v.render_str("{{$context.body.status:pending}}"), json!("paid"));
            assert_eq!(v.render_str("s={{$context.body.missing:none}}"), json!("s=none"));
            assert_eq!(v.render_str("{{$system.later}}"), Value::Null);
        });
    }

    #[test]
    fn object_keys_and_nesting() {
        with_vars(|v| {
            let rendered =
                v.render_value(&json!({"k_{{$context.query.id}}": ["{{$context.body.amount}}", true, 1]}));
            assert_eq!(rendered, json!({"k_7": [42, true, 1]}));
        });
    }

    #[test]
    fn system_now_is_iso8601() {
        with_vars(|v| {
            let now = v.render_str("{{$system.now}}");
            let text = now.as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
            assert!(text.ends_with('Z'));
        });
    }

    #[test]
    fn env_only_exposes_prefixed_variables() {
        with_vars(|v| {
            assert_eq!(v.render_str("{{$env.PATH}}"), Value::Null);
        });
    }

    #[test]
    fn check_finds_bad_templates() {
        assert_eq!(check("ok {{$context.a}}"), Ok(()));
        assert_eq!(check("{{$context.a"), Err(TemplateError::Unclosed));
        assert_eq!(check("{{ }}"), Err(TemplateError::Empty));
        assert!(matches!(check("{{ctx.a}}"), Err(TemplateError::UnknownRoot(_))));
        let problems = check_value(&json!({"a": ["{{"], "{{bad}}": 1}));
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].0, ".a[0]");
        assert_eq!(problems[1].0, ".{{bad}}");
    }
}
