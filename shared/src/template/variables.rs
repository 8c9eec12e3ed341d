//! Where placeholder values come from during one execution, and how compiled templates are
//! rendered with them: NocoBase's lookups (lodash `get`, with the column of an array of
//! objects: `items.id` over `[{id: 1}, {id: 2}]` is `[1, 2]`) and NocoBase's rendering rules.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::compiled::{Piece, Placeholder, Root, Template, TextTemplate, VariablePath};
use super::{approx_size, env_vars, Budget, TooLarge};
use crate::js_value::{iso_string, json_to_string, to_js_string, Datum};
use crate::path::Segment;

/// The values placeholders read during one execution.
pub struct Variables<'a> {
    /// The trigger data: `{headers, query, body}` plus configured `_var`s.
    pub context: &'a Value,
    /// Latest job result per node key.
    pub jobs: &'a Map<String, Value>,
    /// Loop scopes per node key.
    pub scopes: &'a Map<String, Value>,
}

impl Variables<'_> {
    /// The value at a path; `undefined` when it is missing. An array column built on the way
    /// counts against the rendering limit like any copy.
    pub fn resolve(&self, path: &VariablePath) -> Result<Datum<'_>, TooLarge> {
        self.resolve_within(path, &mut Budget::new())
    }

    fn resolve_within(&self, path: &VariablePath, budget: &mut Budget) -> Result<Datum<'_>, TooLarge> {
        let found = match path.root {
            Root::Context => Some((Cow::Borrowed(self.context), path.steps.as_slice())),
            Root::Jobs => in_map(self.jobs, &path.steps),
            Root::Scopes => in_map(self.scopes, &path.steps),
            Root::Env => in_map(env_vars(), &path.steps),
            Root::System => {
                return Ok(match path.steps.as_slice() {
                    [Segment::Key(name)] if name == "now" => Datum::Date(chrono::Utc::now()),
                    _ => Datum::Undefined,
                })
            }
            Root::Unknown => None,
        };
        let Some((mut value, steps)) = found else { return Ok(Datum::Undefined) };
        for segment in steps {
            match step(value, segment, budget)? {
                Some(next) => value = next,
                None => return Ok(Datum::Undefined),
            }
        }
        Ok(Datum::Json(value))
    }

    /// Renders a template as JSON: a Date as ISO-8601 text, an undefined value left out of
    /// its object (null in an array or alone), as `JSON.stringify` would.
    pub fn render(&self, template: &Template) -> Result<Value, TooLarge> {
        self.json_within(template, &mut Budget::new())
    }

    /// Renders a template keeping `undefined` and Dates (what the basic engine's calculators
    /// compare).
    pub fn render_datum(&self, template: &Template) -> Result<Datum<'_>, TooLarge> {
        let mut budget = Budget::new();
        match template {
            Template::Whole(placeholder) => {
                let value = self.value_of(placeholder, &mut budget)?;
                charge_datum(&value, &mut budget)?;
                Ok(value)
            }
            other => self.json_within(other, &mut budget).map(|v| Datum::Json(Cow::Owned(v))),
        }
    }

    /// Renders a string template as text (header values).
    pub fn render_text(&self, template: &TextTemplate) -> Result<String, TooLarge> {
        self.text_within(template, &mut Budget::new())
    }

    /// A placeholder's value: its path's, or its default text when the path is undefined.
    fn value_of(&self, placeholder: &Placeholder, budget: &mut Budget) -> Result<Datum<'_>, TooLarge> {
        Ok(match (self.resolve_within(&placeholder.path, budget)?, &placeholder.default) {
            (Datum::Undefined, Some(default)) => Datum::Json(Cow::Owned(Value::String(default.clone()))),
            (value, _) => value,
        })
    }

    fn json_within(&self, template: &Template, budget: &mut Budget) -> Result<Value, TooLarge> {
        Ok(self.optional_json(template, budget)?.unwrap_or(Value::Null))
    }

    /// `None` for undefined.
    fn optional_json(&self, template: &Template, budget: &mut Budget) -> Result<Option<Value>, TooLarge> {
        // Recursion follows the compiled value, whose depth saving bounds.
        Ok(match template {
            Template::Literal(value) => {
                budget.charge(approx_size(value, budget.left()))?;
                Some(value.clone())
            }
            Template::Whole(placeholder) => {
                let value = self.value_of(placeholder, budget)?;
                charge_datum(&value, budget)?;
                value.into_json()
            }
            Template::Text(text) => Some(Value::String(self.text_within(text, budget)?)),
            Template::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.json_within(item, budget)?);
                }
                Some(Value::Array(out))
            }
            Template::Object(entries) => {
                let mut out = Map::with_capacity(entries.len());
                for (key, item) in entries {
                    let key = self.key_within(key, budget)?;
                    if let Some(value) = self.optional_json(item, budget)? {
                        out.insert(key, value);
                    }
                }
                Some(Value::Object(out))
            }
        })
    }

    /// An object key: a key that is one placeholder takes its value as JavaScript makes a
    /// property name of it (`null` → `"null"`), any other is rendered as text.
    fn key_within(&self, template: &TextTemplate, budget: &mut Budget) -> Result<String, TooLarge> {
        if let [Piece::Value(placeholder)] = template.pieces.as_slice() {
            let value = self.value_of(placeholder, budget)?;
            charge_datum(&value, budget)?;
            return Ok(to_js_string(&value));
        }
        self.text_within(template, budget)
    }

    fn text_within(&self, template: &TextTemplate, budget: &mut Budget) -> Result<String, TooLarge> {
        let mut out = String::new();
        for piece in &template.pieces {
            match piece {
                Piece::Text(text) => {
                    budget.charge(text.len())?;
                    out.push_str(text);
                }
                Piece::Value(placeholder) => {
                    let value = self.value_of(placeholder, budget)?;
                    append_text(&mut out, &value, budget)?
                }
            }
        }
        Ok(out)
    }
}

/// Charges a value's size before it is copied: the copy is what the budget protects against.
fn charge_datum(value: &Datum<'_>, budget: &mut Budget) -> Result<(), TooLarge> {
    match value {
        Datum::Json(value) => budget.charge(approx_size(value, budget.left())),
        Datum::Undefined | Datum::Date(_) => budget.charge(32),
    }
}

/// A value pasted into text, as NocoBase pastes it: a Date as ISO-8601, null and undefined
/// as nothing, anything else as JavaScript's `String(v)`.
fn append_text(out: &mut String, value: &Datum<'_>, budget: &mut Budget) -> Result<(), TooLarge> {
    match value {
        Datum::Undefined => Ok(()),
        Datum::Date(date) => {
            let text = iso_string(date);
            budget.charge(text.len())?;
            out.push_str(&text);
            Ok(())
        }
        Datum::Json(value) => {
            if value.is_null() {
                return Ok(());
            }
            // The text of a value is never longer than its measured size, so charging that
            // first bounds what is written.
            budget.charge(approx_size(value, budget.left()))?;
            json_to_string(value, out);
            Ok(())
        }
    }
}

/// The first step into `$jobsMapByNodeKey`, `$scopes` or `$env`, then the rest.
fn in_map<'v, 's>(
    map: &'v Map<String, Value>,
    steps: &'s [Segment],
) -> Option<(Cow<'v, Value>, &'s [Segment])> {
    let (first, rest) = steps.split_first()?;
    let found = match first {
        Segment::Key(key) => map.get(key),
        Segment::Index(i) => map.get(&i.to_string()),
    }?;
    Some((Cow::Borrowed(found), rest))
}

/// One step of lodash's `get`, with NocoBase's array columns: a key that is not a position,
/// applied to an array, collects that key of every item (arrays among them flattened one
/// level). `length` of an array or a string is its length.
fn step<'v>(
    value: Cow<'v, Value>,
    segment: &Segment,
    budget: &mut Budget,
) -> Result<Option<Cow<'v, Value>>, TooLarge> {
    let special = match (value.as_ref(), segment) {
        (Value::Array(items), Segment::Key(key)) if key == "length" => Some(Value::from(items.len())),
        (Value::String(text), Segment::Key(key)) if key == "length" => {
            Some(Value::from(text.encode_utf16().count()))
        }
        (Value::Array(items), Segment::Key(key)) => Some(column(items, key, budget)?),
        _ => None,
    };
    if let Some(special) = special {
        return Ok(Some(Cow::Owned(special)));
    }
    Ok(match value {
        Cow::Borrowed(value) => crate::path::step(value, segment).map(Cow::Borrowed),
        Cow::Owned(value) => crate::path::step(&value, segment).cloned().map(Cow::Owned),
    })
}

/// The column `key` of `items`, each copy charged before it is made.
fn column(items: &[Value], key: &str, budget: &mut Budget) -> Result<Value, TooLarge> {
    let mut out = Vec::with_capacity(items.len().min(budget.left() / std::mem::size_of::<Value>()));
    let mut copy = |value: &Value, out: &mut Vec<Value>| -> Result<(), TooLarge> {
        budget.charge(approx_size(value, budget.left()))?;
        out.push(value.clone());
        Ok(())
    };
    for item in items {
        match item.get(key) {
            Some(Value::Array(inner)) => {
                for value in inner {
                    copy(value, &mut out)?;
                }
            }
            Some(value) => copy(value, &mut out)?,
            // JavaScript would read `undefined` (or throw on a null item); JSON holds null.
            None => copy(&Value::Null, &mut out)?,
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_vars<T>(f: impl FnOnce(&Variables<'_>) -> T) -> T {
        let context = json!({"body": {"amount": 42, "price": 10.0, "status": "paid", "tags": ["a", "b"], "none": null,
                                      "items": [{"id": 1, "sub": [{"c": 1}, {"c": 2}]}, {"id": 2, "sub": [{"c": 3}]}]},
                             "query": {"id": "7"}});
        let jobs: Map<String, Value> = json!({"calc": 84, "obj": {"x": [1, 2]}}).as_object().unwrap().clone();
        let scopes: Map<String, Value> =
            json!({"loop1": {"item": "i", "index": 0}}).as_object().unwrap().clone();
        f(&Variables { context: &context, jobs: &jobs, scopes: &scopes })
    }

    fn r(v: &Variables<'_>, value: Value) -> Value {
        v.render(&Template::compile(&value)).unwrap()
    }

    #[test]
    fn a_lone_placeholder_keeps_its_type() {
        with_vars(|v| {
            assert_eq!(r(v, json!("{{$context.body.amount}}")), json!(42));
            assert_eq!(r(v, json!("{{ $context.body.tags }}")), json!(["a", "b"]));
            assert_eq!(r(v, json!("{{$context.body}}"))["status"], json!("paid"));
            assert_eq!(r(v, json!("{{$jobsMapByNodeKey.calc}}")), json!(84));
            assert_eq!(r(v, json!("{{$jobsMapByNodeKey.obj.x[1]}}")), json!(2));
            assert_eq!(r(v, json!("{{$scopes.loop1.item}}")), json!("i"));
        });
    }

    #[test]
    fn values_are_pasted_as_javascript_text() {
        with_vars(|v| {
            assert_eq!(
                r(v, json!("order {{$context.query.id}}: {{$context.body.amount}}")),
                json!("order 7: 42")
            );
            assert_eq!(r(v, json!("x{{$context.body.none}}y")), json!("xy"));
            assert_eq!(r(v, json!("x{{$context.body.missing}}y")), json!("xy"));
            assert_eq!(r(v, json!("tags={{$context.body.tags}}")), json!("tags=a,b"));
            assert_eq!(r(v, json!("p={{$context.body.price}}")), json!("p=10"));
            assert_eq!(r(v, json!("o={{$context.query}}")), json!("o=[object Object]"));
            assert_eq!(r(v, json!("no placeholders")), json!("no placeholders"));
        });
    }

    #[test]
    fn a_default_applies_to_undefined_only_and_is_text() {
        with_vars(|v| {
            assert_eq!(r(v, json!("{{$context.body.missing:0}}")), json!("0"));
            assert_eq!(r(v, json!("{{$context.body.missing:pending}}")), json!("pending"));
            assert_eq!(r(v, json!("{{$context.body.none:x}}")), json!(null), "null is not undefined");
            assert_eq!(r(v, json!("{{$context.body.status:pending}}")), json!("paid"));
            assert_eq!(r(v, json!("s={{$context.body.missing:none}}")), json!("s=none"));
        });
    }

    #[test]
    fn undefined_values_leave_their_object() {
        with_vars(|v| {
            assert_eq!(r(v, json!({"a": "{{$context.body.missing}}", "b": 1})), json!({"b": 1}));
            assert_eq!(r(v, json!(["{{$context.body.missing}}"])), json!([null]));
            assert_eq!(r(v, json!("{{$context.body.missing}}")), json!(null));
            assert_eq!(r(v, json!("{{$system.later}}")), json!(null));
        });
    }

    #[test]
    fn a_key_over_an_array_yields_the_column_flattened() {
        with_vars(|v| {
            assert_eq!(r(v, json!("{{$context.body.items.id}}")), json!([1, 2]));
            assert_eq!(r(v, json!("{{$context.body.items.sub}}")), json!([{"c": 1}, {"c": 2}, {"c": 3}]));
            assert_eq!(r(v, json!("{{$context.body.items.sub.c}}")), json!([1, 2, 3]));
            assert_eq!(r(v, json!("{{$context.body.items.0.id}}")), json!(1));
            assert_eq!(r(v, json!("{{$context.body.tags.length}}")), json!(2));
            assert_eq!(r(v, json!("ids={{$context.body.items.id}}")), json!("ids=1,2"));
        });
    }

    #[test]
    fn json_templates_case() {
        // NocoBase's `json-templates` test: `{name: '{{id}}-{{name}}.', age: 18}`.
        let context = json!({"name": "test", "id": 1});
        let (jobs, scopes) = (Map::new(), Map::new());
        let v = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        let template = Template::compile(&json!({"name": "{{$context.id}}-{{$context.name}}.", "age": 18}));
        assert_eq!(v.render(&template).unwrap(), json!({"name": "1-test.", "age": 18}));
        let output = Template::compile(&json!("{{$context.id}}"));
        assert_eq!(v.render(&output).unwrap(), json!(1), "a lone placeholder keeps its number");
    }

    #[test]
    fn object_keys_and_nesting() {
        with_vars(|v| {
            let rendered = r(v, json!({"k_{{$context.query.id}}": ["{{$context.body.amount}}", true, 1]}));
            assert_eq!(rendered, json!({"k_7": [42, true, 1]}));
            let keys = r(
                v,
                json!({"{{$context.body.none}}": 1, "{{$context.body.missing}}": 2, "{{$context.body.tags}}": 3}),
            );
            assert_eq!(keys, json!({"null": 1, "undefined": 2, "a,b": 3}), "as JavaScript names properties");
        });
    }

    #[test]
    fn system_now_is_a_date() {
        with_vars(|v| {
            let whole = Template::compile(&json!("{{$system.now}}"));
            assert!(matches!(v.render_datum(&whole).unwrap(), Datum::Date(_)));
            let now = r(v, json!("{{$system.now}}"));
            let text = now.as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
            assert!(text.ends_with('Z'));
            let inside = r(v, json!("at {{$system.now}}"));
            assert!(inside.as_str().unwrap().starts_with("at 20") && inside.as_str().unwrap().ends_with('Z'));
        });
    }

    #[test]
    fn env_only_exposes_prefixed_variables() {
        with_vars(|v| assert_eq!(r(v, json!("{{$env.PATH}}")), Value::Null));
    }

    #[test]
    fn array_columns_count_against_the_limit() {
        let items: Vec<Value> = (0..20).map(|_| json!({"x": "y".repeat(1 << 20)})).collect();
        let context = json!({"items": items});
        let (jobs, scopes) = (Map::new(), Map::new());
        let v = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        let column = Template::compile(&json!("{{$context.items.x.length}}"));
        assert_eq!(v.render(&column), Err(TooLarge), "a 20 MiB column is refused before it is built");
        let small = Template::compile(&json!("{{$context.items.length}}"));
        assert_eq!(v.render(&small).unwrap(), json!(20));
    }

    #[test]
    fn rendering_is_bounded() {
        let big = "x".repeat(1 << 20);
        let context = json!({"body": {"big": big}});
        let (jobs, scopes) = (Map::new(), Map::new());
        let v = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        // 15 copies fit, 17 do not: the limit is on the whole rendering, not each placeholder.
        let fits = Template::compile(&json!(vec!["{{$context.body.big}}"; 15]));
        assert!(v.render(&fits).is_ok());
        let too_many = Template::compile(&json!(vec!["{{$context.body.big}}"; 17]));
        assert_eq!(v.render(&too_many), Err(TooLarge));
        let text = "{{$context.body.big}}".repeat(17);
        assert_eq!(v.render(&Template::compile(&json!(text))), Err(TooLarge));
        assert_eq!(v.render_text(&TextTemplate::compile(&text)), Err(TooLarge));
    }
}
