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
    #[error("longer than {MAX_TEMPLATE_BYTES} bytes")]
    TooLong,
    #[error("nested deeper than {MAX_VALUE_DEPTH} levels")]
    TooDeep,
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
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLong);
    }
    for placeholder in scan(text)? {
        let root = placeholder.path.split(['.', '[']).next().unwrap_or_default();
        if !ROOTS.contains(&root) {
            return Err(TemplateError::UnknownRoot(placeholder.path.to_owned()));
        }
    }
    Ok(())
}

/// Longest template string accepted at save.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// Deepest nesting of a templated JSON value (a Response body, an operand) accepted at save.
pub const MAX_VALUE_DEPTH: usize = 32;

/// Checks every string (and object key) inside a JSON value; problems come with their
/// JSON-path suffix (`.body.ok`, `[2]`). Walks iteratively with a depth limit, so a hostile
/// definition cannot exhaust the stack of the check itself.
pub fn check_value(value: &Value) -> Vec<(String, TemplateError)> {
    let mut problems = Vec::new();
    // Each entry carries the problem of its object key, reported when the entry is reached
    // so problems come out in document order.
    let mut pending = vec![(value, String::new(), 0usize, None)];
    while let Some((value, at, depth, key_problem)) = pending.pop() {
        if let Some(problem) = key_problem {
            problems.push((at.clone(), problem));
        }
        if depth > MAX_VALUE_DEPTH {
            problems.push((at, TemplateError::TooDeep));
            continue;
        }
        match value {
            Value::String(text) => {
                if let Err(e) = check(text) {
                    problems.push((at, e));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    pending.push((item, format!("{at}[{i}]"), depth + 1, None));
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter().rev() {
                    pending.push((item, format!("{at}.{key}"), depth + 1, check(key).err()));
                }
            }
            _ => {}
        }
    }
    problems
}

/// Most bytes one rendering may produce (a node's body, header or operand): rendering is
/// refused past it, so a template that repeats a large value cannot take unbounded memory.
/// Counted as [`approx_size`] for values taken whole and as text length for interpolation.
pub const MAX_RENDERED_BYTES: usize = 16 << 20;

/// A rendering went past [`MAX_RENDERED_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the rendered value would be larger than {MAX_RENDERED_BYTES} bytes")]
pub struct TooLarge;

/// Approximate memory of a JSON value: a fixed cost per node plus its text. Stops counting
/// once past `limit`, so measuring a huge value costs no more than the limit.
pub fn approx_size(value: &Value, limit: usize) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    let mut total = 0usize;
    // Iterative, so a deeply nested value cannot exhaust the stack.
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        total += NODE;
        match value {
            Value::String(s) => total += s.len(),
            Value::Array(items) => pending.extend(items.iter()),
            Value::Object(map) => {
                for (key, item) in map {
                    total += key.len() + NODE;
                    pending.push(item);
                }
            }
            _ => {}
        }
        if total > limit {
            break;
        }
    }
    total
}

/// What is left of one rendering's allowance.
struct Budget(usize);

impl Budget {
    fn new() -> Self {
        Self(MAX_RENDERED_BYTES)
    }

    fn charge(&mut self, bytes: usize) -> Result<(), TooLarge> {
        self.0 = self.0.checked_sub(bytes).ok_or(TooLarge)?;
        Ok(())
    }
}

/// Appends JSON text to a string while the budget lasts.
struct BoundedText<'a> {
    out: &'a mut String,
    budget: &'a mut Budget,
}

impl std::io::Write for BoundedText<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.budget.charge(bytes.len()).map_err(|_| std::io::Error::other(TooLarge))?;
        // serde_json writes valid UTF-8, split only at character boundaries.
        self.out.push_str(std::str::from_utf8(bytes).map_err(std::io::Error::other)?);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
    pub fn render_str(&self, text: &str) -> Result<Value, TooLarge> {
        self.str_within(text, &mut Budget::new())
    }

    /// Renders a string as text, whatever its placeholders hold.
    pub fn render_text<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, TooLarge> {
        self.text_within(text, &mut Budget::new())
    }

    /// Renders every string and object key inside a JSON value.
    pub fn render_value(&self, value: &Value) -> Result<Value, TooLarge> {
        let mut budget = Budget::new();
        self.value_within(value, &mut budget)
    }

    fn str_within(&self, text: &str, budget: &mut Budget) -> Result<Value, TooLarge> {
        let Ok(placeholders) = scan(text) else { return self.literal(text, budget) };
        match placeholders.as_slice() {
            [] => self.literal(text, budget),
            [only] if only.start == 0 && only.end == text.len() => self.value_of(only, budget),
            _ => Ok(Value::String(self.interpolate(text, &placeholders, budget)?)),
        }
    }

    fn text_within<'t>(&self, text: &'t str, budget: &mut Budget) -> Result<Cow<'t, str>, TooLarge> {
        match scan(text) {
            Ok(placeholders) if !placeholders.is_empty() => {
                Ok(Cow::Owned(self.interpolate(text, &placeholders, budget)?))
            }
            _ => {
                budget.charge(text.len())?;
                Ok(Cow::Borrowed(text))
            }
        }
    }

    fn value_within(&self, value: &Value, budget: &mut Budget) -> Result<Value, TooLarge> {
        // Recursion follows the configured value, whose depth the JSON and YAML parsers bound.
        match value {
            Value::String(text) => self.str_within(text, budget),
            Value::Array(items) => {
                items.iter().map(|v| self.value_within(v, budget)).collect::<Result<_, _>>().map(Value::Array)
            }
            Value::Object(map) => {
                let mut rendered = Map::with_capacity(map.len());
                for (key, item) in map {
                    let key = self.text_within(key, budget)?.into_owned();
                    rendered.insert(key, self.value_within(item, budget)?);
                }
                Ok(Value::Object(rendered))
            }
            other => {
                budget.charge(std::mem::size_of::<Value>())?;
                Ok(other.clone())
            }
        }
    }

    fn literal(&self, text: &str, budget: &mut Budget) -> Result<Value, TooLarge> {
        budget.charge(text.len())?;
        Ok(Value::String(text.to_owned()))
    }

    /// A placeholder's value: its path's, or its default when that is missing or null.
    fn resolve_placeholder(&self, placeholder: &Placeholder<'_>) -> Cow<'_, Value> {
        match self.resolve(placeholder.path) {
            Some(value) if !(value.is_null() && placeholder.default.is_some()) => value,
            _ => Cow::Owned(placeholder.default.map(parse_default).unwrap_or(Value::Null)),
        }
    }

    fn value_of(&self, placeholder: &Placeholder<'_>, budget: &mut Budget) -> Result<Value, TooLarge> {
        let value = self.resolve_placeholder(placeholder);
        // Measured before it is copied: the copy is what the budget protects against.
        budget.charge(approx_size(&value, budget.0))?;
        Ok(value.into_owned())
    }

    fn interpolate(
        &self,
        text: &str,
        placeholders: &[Placeholder<'_>],
        budget: &mut Budget,
    ) -> Result<String, TooLarge> {
        let mut out = String::with_capacity(text.len().min(budget.0) + 16);
        let mut last = 0;
        for placeholder in placeholders {
            push_bounded(&mut out, &text[last..placeholder.start], budget)?;
            append_text_bounded(&mut out, &self.resolve_placeholder(placeholder), budget)?;
            last = placeholder.end;
        }
        push_bounded(&mut out, &text[last..], budget)?;
        Ok(out)
    }
}

fn push_bounded(out: &mut String, text: &str, budget: &mut Budget) -> Result<(), TooLarge> {
    budget.charge(text.len())?;
    out.push_str(text);
    Ok(())
}

/// [`append_text`] within a budget; objects and arrays are written as JSON piece by piece so
/// a large one is refused before it is copied whole.
fn append_text_bounded(out: &mut String, value: &Value, budget: &mut Budget) -> Result<(), TooLarge> {
    match value {
        Value::Null => Ok(()),
        Value::String(s) => push_bounded(out, s, budget),
        Value::Bool(_) | Value::Number(_) => {
            let mut text = String::new();
            append_text(&mut text, value);
            push_bounded(out, &text, budget)
        }
        other => serde_json::to_writer(BoundedText { out, budget }, other).map_err(|_| TooLarge),
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

/// The value of `$env.NAME` (`HOOKFLOW_VAR_NAME`), if set.
pub fn env_var(name: &str) -> Option<&'static str> {
    env_vars().get(name).and_then(Value::as_str)
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

    fn r(v: &Variables<'_>, text: &str) -> Value {
        v.render_str(text).unwrap()
    }

    fn rv(v: &Variables<'_>, value: &Value) -> Value {
        v.render_value(value).unwrap()
    }

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
            assert_eq!(r(v, "{{$context.body.amount}}"), json!(42));
            assert_eq!(r(v, "{{ $context.body.tags }}"), json!(["a", "b"]));
            assert_eq!(r(v, "{{$context.body}}")["status"], json!("paid"));
            assert_eq!(r(v, "{{$jobsMapByNodeKey.calc}}"), json!(84));
            assert_eq!(r(v, "{{$jobsMapByNodeKey.obj.x[1]}}"), json!(2));
            assert_eq!(r(v, "{{$scopes.loop1.item}}"), json!("i"));
        });
    }

    #[test]
    fn interpolation_is_text() {
        with_vars(|v| {
            assert_eq!(r(v, "order {{$context.query.id}}: {{$context.body.amount}}"), json!("order 7: 42"));
            assert_eq!(r(v, "x{{$context.body.none}}y"), json!("xy"));
            assert_eq!(r(v, "tags={{$context.body.tags}}"), json!("tags=[\"a\",\"b\"]"));
            assert_eq!(r(v, "no placeholders"), json!("no placeholders"));
        });
    }

    #[test]
    fn missing_paths_and_defaults() {
        with_vars(|v| {
            assert_eq!(r(v, "{{$context.body.missing}}"), Value::Null);
            assert_eq!(r(v, "[{{$context.body.missing}}]"), json!("[]"));
            assert_eq!(r(v, "{{$context.body.missing:0}}"), json!(0));
            assert_eq!(r(v, "{{$context.body.missing:pending}}"), json!("pending"));
            assert_eq!(r(v, "{{$context.body.none:\"a:b\"}}"), json!("a:b"));
            assert_eq!(r(v, "{{$context.body.status:pending}}"), json!("paid"));
            assert_eq!(r(v, "s={{$context.body.missing:none}}"), json!("s=none"));
            assert_eq!(r(v, "{{$system.later}}"), Value::Null);
        });
    }

    #[test]
    fn object_keys_and_nesting() {
        with_vars(|v| {
            let rendered = rv(v, &json!({"k_{{$context.query.id}}": ["{{$context.body.amount}}", true, 1]}));
            assert_eq!(rendered, json!({"k_7": [42, true, 1]}));
        });
    }

    #[test]
    fn system_now_is_iso8601() {
        with_vars(|v| {
            let now = r(v, "{{$system.now}}");
            let text = now.as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
            assert!(text.ends_with('Z'));
        });
    }

    #[test]
    fn env_only_exposes_prefixed_variables() {
        with_vars(|v| {
            assert_eq!(r(v, "{{$env.PATH}}"), Value::Null);
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

    #[test]
    fn rendering_is_bounded() {
        let big = "x".repeat(1 << 20);
        let context = json!({"body": {"big": big, "nested": [[[[1]]]]}});
        let (jobs, scopes) = (Map::new(), Map::new());
        let v = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        // 15 copies fit, 17 do not: the limit is on the whole rendering, not each placeholder.
        let fits = json!(vec!["{{$context.body.big}}"; 15]);
        assert!(v.render_value(&fits).is_ok());
        let too_many = json!(vec!["{{$context.body.big}}"; 17]);
        assert_eq!(v.render_value(&too_many), Err(TooLarge));
        let text = "{{$context.body}}".repeat(17);
        assert_eq!(v.render_str(&text), Err(TooLarge));
        assert_eq!(v.render_text(&text), Err(TooLarge));
        assert!(approx_size(&context, 100) <= 100 + 2 * std::mem::size_of::<Value>() + (1 << 20));
    }

    #[test]
    fn check_limits_size_and_depth() {
        assert_eq!(check(&"x".repeat(MAX_TEMPLATE_BYTES + 1)), Err(TemplateError::TooLong));
        let mut deep = json!("{{$context.a}}");
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let problems = check_value(&deep);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].1, TemplateError::TooDeep);
    }
}
