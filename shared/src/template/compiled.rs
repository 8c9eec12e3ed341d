//! Templates compiled once per workflow version: every string scanned, every placeholder's
//! path parsed, parts without placeholders kept as they are. Rendering then only looks values
//! up ([`super::Variables`]).

use serde_json::Value;

use super::scan;
use crate::path::{Path, Segment};

/// Where a placeholder path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Context,
    Jobs,
    Scopes,
    System,
    Env,
    /// Refused when a workflow is saved; renders as undefined if one was stored anyway.
    Unknown,
}

/// A placeholder's path, parsed: its root and the steps below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariablePath {
    pub root: Root,
    pub steps: Vec<Segment>,
}

impl VariablePath {
    pub fn parse(text: &str) -> Self {
        let Path(mut segments) = Path::parse(text);
        let root = match segments.first() {
            Some(Segment::Key(root)) => match root.as_str() {
                "$context" => Root::Context,
                "$jobsMapByNodeKey" => Root::Jobs,
                "$scopes" => Root::Scopes,
                "$system" => Root::System,
                "$env" => Root::Env,
                _ => Root::Unknown,
            },
            _ => Root::Unknown,
        };
        if !segments.is_empty() {
            segments.remove(0);
        }
        Self { root, steps: segments }
    }
}

/// One `{{ path }}` or `{{ path:default }}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub path: VariablePath,
    /// Used when the path is undefined; always text, as in NocoBase.
    pub default: Option<String>,
}

/// A string rendered as text: literal pieces and placeholders in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTemplate {
    pub(crate) pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A templated JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// Nothing inside is templated.
    Literal(Value),
    /// A string that is exactly one placeholder: its value, whatever its type.
    Whole(Placeholder),
    /// Any other string with placeholders: text.
    Text(TextTemplate),
    Array(Vec<Template>),
    Object(Vec<(TextTemplate, Template)>),
}

impl TextTemplate {
    /// Compiles a string. One that does not scan (an unclosed `{{`) is literal text, as
    /// NocoBase leaves text it does not recognise; saving refuses it before it gets here.
    pub fn compile(text: &str) -> Self {
        let Ok(found) = scan(text) else { return Self { pieces: vec![Piece::Text(text.to_owned())] } };
        let mut pieces = Vec::with_capacity(found.len() * 2 + 1);
        let mut last = 0;
        for placeholder in found {
            if placeholder.start > last {
                pieces.push(Piece::Text(text[last..placeholder.start].to_owned()));
            }
            pieces.push(Piece::Value(Placeholder {
                path: VariablePath::parse(placeholder.path),
                default: placeholder.default.map(str::to_owned),
            }));
            last = placeholder.end;
        }
        if last < text.len() || pieces.is_empty() {
            pieces.push(Piece::Text(text[last..].to_owned()));
        }
        Self { pieces }
    }

    /// The text itself when it holds no placeholder.
    pub fn as_literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [Piece::Text(text)] => Some(text),
            _ => None,
        }
    }
}

impl Template {
    /// Compiles a JSON value. Recursion follows the value, whose depth saving bounds
    /// (`MAX_VALUE_DEPTH`).
    pub fn compile(value: &Value) -> Self {
        let compiled = match value {
            Value::String(text) => {
                let text = TextTemplate::compile(text);
                match <[Piece; 1]>::try_from(text.pieces) {
                    Ok([Piece::Text(_)]) => return Template::Literal(value.clone()),
                    Ok([Piece::Value(placeholder)]) => Template::Whole(placeholder),
                    Err(pieces) => Template::Text(TextTemplate { pieces }),
                }
            }
            Value::Array(items) => Template::Array(items.iter().map(Template::compile).collect()),
            Value::Object(map) => Template::Object(
                map.iter().map(|(key, item)| (TextTemplate::compile(key), Template::compile(item))).collect(),
            ),
            other => return Template::Literal(other.clone()),
        };
        if compiled.is_literal() {
            Template::Literal(value.clone())
        } else {
            compiled
        }
    }

    fn is_literal(&self) -> bool {
        match self {
            Template::Literal(_) => true,
            Template::Whole(_) | Template::Text(_) => false,
            Template::Array(items) => items.iter().all(Template::is_literal),
            Template::Object(entries) => {
                entries.iter().all(|(key, item)| key.as_literal().is_some() && item.is_literal())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_without_placeholders_stay_literal() {
        let value = json!({"a": [1, "x", {"b": true}]});
        assert_eq!(Template::compile(&value), Template::Literal(value));
    }

    #[test]
    fn strings_compile_to_whole_values_or_text() {
        assert!(matches!(Template::compile(&json!("{{ $context.a.b }}")), Template::Whole(p)
            if p.path == VariablePath { root: Root::Context, steps: vec![Segment::Key("a".into()), Segment::Key("b".into())] }));
        assert!(matches!(Template::compile(&json!(" {{$context.a}}")), Template::Text(_)));
        let Template::Whole(p) = Template::compile(&json!("{{$context.a: x}}")) else { panic!() };
        assert_eq!(p.default.as_deref(), Some(" x"), "the default keeps its spaces");
        assert!(matches!(Template::compile(&json!("{{$context.a")), Template::Literal(_)));
        assert_eq!(
            VariablePath::parse("$jobsMapByNodeKey.n1.0").steps,
            vec![Segment::Key("n1".into()), Segment::Index(0)]
        );
        assert_eq!(VariablePath::parse("ctx.a").root, Root::Unknown);
    }
}
