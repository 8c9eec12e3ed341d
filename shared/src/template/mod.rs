//! `{{ path }}` templates with NocoBase's semantics (SPEC §5; NocoBase's `json-templates`).
//!
//! A string that is exactly one placeholder yields the raw value; any other string has its
//! placeholders pasted as JavaScript text (`String(v)`: `10.0` is `10`, arrays `a,b`, null and
//! missing ""; a Date as ISO-8601). `{{path:default}}` gives the text after the colon when the
//! path is undefined (not when it is null). Object keys are templated as text. Roots:
//! `$context`, `$jobsMapByNodeKey`, `$scopes`, `$system.now` (a Date), `$env.NAME`.
//!
//! Templates are checked when a workflow is saved ([`check`], [`check_value`]), compiled once
//! per loaded version ([`Template::compile`]) and rendered per execution ([`Variables`]).

mod compiled;
mod variables;

pub use compiled::{Placeholder, Root, Template, TextTemplate, VariablePath};
pub use variables::Variables;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

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
pub(crate) struct Found<'s> {
    /// Byte range of the whole `{{ … }}` in the source.
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) path: &'s str,
    pub(crate) default: Option<&'s str>,
}

/// Finds the placeholders of `text`, in order.
pub(crate) fn scan(text: &str) -> Result<Vec<Found<'_>>, TemplateError> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let close = text[open + 2..].find("}}").map(|i| i + open + 2).ok_or(TemplateError::Unclosed)?;
        let inner = text[open + 2..close].trim();
        // As NocoBase: the default is everything after the first colon, spaces kept.
        let (path, default) = match inner.split_once(':') {
            Some((path, default)) => (path.trim(), Some(default)),
            None => (inner, None),
        };
        if path.is_empty() {
            return Err(TemplateError::Empty);
        }
        found.push(Found { start: open, end: close + 2, path, default });
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
pub(crate) struct Budget(usize);

impl Budget {
    pub(crate) fn new() -> Self {
        Self(MAX_RENDERED_BYTES)
    }

    pub(crate) fn left(&self) -> usize {
        self.0
    }

    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), TooLarge> {
        self.0 = self.0.checked_sub(bytes).ok_or(TooLarge)?;
        Ok(())
    }
}

/// The value of `$env.NAME` (`HOOKFLOW_VAR_NAME`), if set.
pub fn env_var(name: &str) -> Option<&'static str> {
    env_vars().get(name).and_then(Value::as_str)
}

/// `HOOKFLOW_VAR_*` variables, read once: `$env.NAME` is `HOOKFLOW_VAR_NAME`.
pub(crate) fn env_vars() -> &'static Map<String, Value> {
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
    fn check_limits_size_and_depth() {
        assert_eq!(check(&"x".repeat(MAX_TEMPLATE_BYTES + 1)), Err(TemplateError::TooLong));
        let mut deep = json!("{{$context.a}}");
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let problems = check_value(&deep);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].1, TemplateError::TooDeep);
        let context = json!({"a": "x".repeat(100)});
        assert!(approx_size(&context, 10) <= 10 + 2 * std::mem::size_of::<Value>() + 100);
    }
}
