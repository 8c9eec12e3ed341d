//! Query strings and form bodies parsed the way the `qs` library (and so NocoBase) does:
//! `a[b]=1` → `{"a":{"b":"1"}}`, `a[0]=x&a[1]=y` and `a[]=x` → arrays, repeated keys → arrays.
//!
//! Limits, as in SPEC §4: at most [`MAX_DEPTH`] bracket levels (the rest of the key becomes one
//! literal key), array positions up to [`MAX_INDEX`] (a larger one is an object key), at most
//! [`MAX_PARAMS`] pairs (the rest is ignored). Percent- and `+`-decoding is `form_urlencoded`'s.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Bracket levels parsed below the top-level key.
pub const MAX_DEPTH: usize = 5;
/// Largest position that still makes an array.
pub const MAX_INDEX: usize = 100;
/// Pairs read from one string.
pub const MAX_PARAMS: usize = 1000;
/// The key serde_json (with its `raw_value` feature, which a dependency turns on) reads as an
/// embedded raw value: a parsed query holding it would not read back from its own JSON text, so
/// a pair that names it is ignored, like a pair with an empty key.
pub const RESERVED_KEY: &str = "$serde_json::private::RawValue";

/// A step of a parsed key.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Push,
}

/// The tree under construction; arrays keep their positions until they are compacted.
#[derive(Debug)]
enum Tree {
    Leaf(String),
    /// A plain value given for a key that already holds an object becomes a key of that
    /// object set to `true`, as in qs (`a[b]=1&a=c` → `{"a": {"b": "1", "c": true}}`).
    Flag,
    List(BTreeMap<usize, Tree>),
    Object(Vec<(String, Tree)>),
}

/// Parses `a=1&b[c]=2` (a leading `?` is ignored) into a JSON object of strings.
pub fn parse(input: &str) -> Value {
    let input = input.strip_prefix('?').unwrap_or(input);
    let mut root: Vec<(String, Tree)> = Vec::new();
    for (key, value) in form_urlencoded::parse(input.as_bytes()).take(MAX_PARAMS) {
        if key.is_empty() {
            continue;
        }
        let (top, steps) = split_key(&key);
        if top == RESERVED_KEY || steps.iter().any(|step| matches!(step, Step::Key(k) if k == RESERVED_KEY)) {
            continue;
        }
        insert_entry(&mut root, top, &steps, value.into_owned());
    }
    Value::Object(root.into_iter().map(|(k, t)| (k, t.into_value())).collect())
}

/// Splits `a[b][0][]` into the top-level key and its steps, honouring [`MAX_DEPTH`].
fn split_key(key: &str) -> (String, Vec<Step>) {
    let first_bracket = match key.find('[') {
        Some(0) | None => return (key.to_owned(), Vec::new()),
        Some(i) => i,
    };
    let top = key[..first_bracket].to_owned();
    let mut steps = Vec::new();
    let mut rest = &key[first_bracket..];
    while let Some(inner) = rest.strip_prefix('[') {
        if steps.len() == MAX_DEPTH {
            break;
        }
        // A group is `[` up to the next `]` with no `[` inside, as qs's segment pattern says.
        match inner.find([']', '[']) {
            Some(close) if inner.as_bytes()[close] == b']' => {
                steps.push(step_for(&inner[..close]));
                rest = &inner[close + 1..];
            }
            _ => break,
        }
    }
    if !rest.is_empty() {
        // What is left (past the depth limit, or not a bracket group) is one literal key.
        steps.push(Step::Key(rest.to_owned()));
    }
    (top, steps)
}

fn step_for(label: &str) -> Step {
    if label.is_empty() {
        return Step::Push;
    }
    match label.parse::<usize>() {
        Ok(index) if index <= MAX_INDEX && index.to_string() == label => Step::Index(index),
        _ => Step::Key(label.to_owned()),
    }
}

fn insert_entry(entries: &mut Vec<(String, Tree)>, key: String, steps: &[Step], value: String) {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some((_, existing)) => existing.merge(steps, value),
        None => entries.push((key, Tree::build(steps, value))),
    }
}

impl Tree {
    fn build(steps: &[Step], value: String) -> Tree {
        match steps.split_first() {
            None => Tree::Leaf(value),
            Some((Step::Key(key), rest)) => Tree::Object(vec![(key.clone(), Tree::build(rest, value))]),
            Some((Step::Index(i), rest)) => Tree::List(BTreeMap::from([(*i, Tree::build(rest, value))])),
            Some((Step::Push, rest)) => Tree::List(BTreeMap::from([(0, Tree::build(rest, value))])),
        }
    }

    /// Adds one more pair under this node, combining as qs does: repeated values become a list,
    /// an object key on a list turns the list into an object keyed by position.
    fn merge(&mut self, steps: &[Step], value: String) {
        match (self, steps.split_first()) {
            (Tree::List(items), Some((Step::Index(i), rest))) => match items.get_mut(i) {
                Some(child) => child.merge(rest, value),
                None => {
                    items.insert(*i, Tree::build(rest, value));
                }
            },
            (Tree::List(items), Some((Step::Push, rest))) => {
                let next = items.keys().next_back().map_or(0, |last| last + 1);
                items.insert(next, Tree::build(rest, value));
            }
            (Tree::List(items), None) => {
                let next = items.keys().next_back().map_or(0, |last| last + 1);
                items.insert(next, Tree::Leaf(value));
            }
            (this @ Tree::List(_), Some((Step::Key(_), _))) => {
                let Tree::List(items) = std::mem::replace(this, Tree::Object(Vec::new())) else {
                    unreachable!()
                };
                let mut entries: Vec<(String, Tree)> =
                    items.into_iter().map(|(i, child)| (i.to_string(), child)).collect();
                if let Some((Step::Key(key), rest)) = steps.split_first() {
                    insert_entry(&mut entries, key.clone(), rest, value);
                }
                *this = Tree::Object(entries);
            }
            (Tree::Object(entries), Some((step, rest))) => {
                let key = match step {
                    Step::Key(key) => key.clone(),
                    Step::Index(i) => i.to_string(),
                    Step::Push => entries.len().to_string(),
                };
                insert_entry(entries, key, rest, value);
            }
            (Tree::Object(entries), None) => {
                // Not wrapped in a list: repeating this would nest deeper with every pair.
                if !entries.iter().any(|(k, _)| *k == value) {
                    entries.push((value, Tree::Flag));
                }
            }
            (this, _) => {
                // A leaf meeting another value (or an object meeting a plain value): keep both
                // in a list, first one first.
                let previous = std::mem::replace(this, Tree::Leaf(String::new()));
                *this = Tree::List(BTreeMap::from([(0, previous), (1, Tree::build(steps, value))]));
            }
        }
    }

    fn into_value(self) -> Value {
        match self {
            Tree::Leaf(text) => Value::String(text),
            Tree::Flag => Value::Bool(true),
            // Positions are compacted: `a[1]=x&a[5]=y` gives ["x", "y"], as in qs.
            Tree::List(items) => Value::Array(items.into_values().map(Tree::into_value).collect()),
            Tree::Object(entries) => {
                Value::Object(entries.into_iter().map(|(k, t)| (k, t.into_value())).collect::<Map<_, _>>())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_and_decoded() {
        assert_eq!(parse("a=1&b=x+y&c=%C3%A9%26"), json!({"a": "1", "b": "x y", "c": "é&"}));
        assert_eq!(parse("?a=1"), json!({"a": "1"}));
        assert_eq!(parse(""), json!({}));
        assert_eq!(parse("flag"), json!({"flag": ""}));
    }

    #[test]
    fn nested_objects() {
        assert_eq!(parse("a[b]=1&a[c][d]=2"), json!({"a": {"b": "1", "c": {"d": "2"}}}));
        assert_eq!(parse("a%5Bb%5D=1"), json!({"a": {"b": "1"}}));
        assert_eq!(
            parse("order[id]=7&order[items][0][sku]=x"),
            json!({"order": {"id": "7", "items": [{"sku": "x"}]}})
        );
    }

    #[test]
    fn arrays() {
        assert_eq!(parse("a[0]=x&a[1]=y"), json!({"a": ["x", "y"]}));
        assert_eq!(parse("a[]=x&a[]=y"), json!({"a": ["x", "y"]}));
        assert_eq!(parse("a=x&a=y&a=z"), json!({"a": ["x", "y", "z"]}));
        assert_eq!(parse("a[1]=x&a[15]=y"), json!({"a": ["x", "y"]}), "sparse positions are compacted");
        assert_eq!(parse("a[0][b]=1&a[0][c]=2&a[1][b]=3"), json!({"a": [{"b": "1", "c": "2"}, {"b": "3"}]}));
    }

    #[test]
    fn a_plain_value_on_an_object_is_a_flag_and_nesting_stays_bounded() {
        assert_eq!(parse("a[b]=1&a=c"), json!({"a": {"b": "1", "c": true}}));
        // Alternating pairs used to wrap the value one level deeper each time.
        let input = vec!["a[&a"; 400].join("&");
        let parsed = parse(&input);
        let text = serde_json::to_string(&parsed).unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "reads back");
        assert!(text.matches('{').count() + text.matches('[').count() < 10, "{text}");
    }

    #[test]
    fn the_raw_value_key_is_ignored() {
        assert_eq!(parse("$serde_json::private::RawValue=y&b=1"), json!({"b": "1"}));
        assert_eq!(parse("a[$serde_json::private::RawValue]=%7B%7D&b=1"), json!({"b": "1"}));
    }

    #[test]
    fn mixed_list_and_keys_become_an_object() {
        assert_eq!(parse("a[0]=x&a[b]=y"), json!({"a": {"0": "x", "b": "y"}}));
    }

    #[test]
    fn index_limit() {
        assert_eq!(parse("a[100]=x"), json!({"a": ["x"]}));
        assert_eq!(parse("a[101]=x"), json!({"a": {"101": "x"}}));
        assert_eq!(parse("a[01]=x"), json!({"a": {"01": "x"}}));
    }

    #[test]
    fn depth_limit_keeps_the_rest_as_a_literal_key() {
        assert_eq!(
            parse("a[b][c][d][e][f][g][h]=i"),
            json!({"a": {"b": {"c": {"d": {"e": {"f": {"[g][h]": "i"}}}}}}})
        );
        assert_eq!(parse("a[b][c][d][e][f]=i"), json!({"a": {"b": {"c": {"d": {"e": {"f": "i"}}}}}}));
    }

    #[test]
    fn odd_keys_are_literal() {
        assert_eq!(parse("a[b=1"), json!({"a": {"[b": "1"}}));
        assert_eq!(parse("[a]=1"), json!({"[a]": "1"}));
        assert_eq!(parse("a[b]c=1"), json!({"a": {"b": {"c": "1"}}}));
    }

    #[test]
    fn parameter_limit() {
        let many: Vec<String> = (0..MAX_PARAMS + 10).map(|i| format!("k{i}=v")).collect();
        let parsed = parse(&many.join("&"));
        assert_eq!(parsed.as_object().unwrap().len(), MAX_PARAMS);
    }
}
