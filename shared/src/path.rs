//! Paths into JSON values, in the lodash `get` style NocoBase uses: `a.b`, `items.0.id`,
//! `items[0].id`, `query[0].a`. Used by request parsing (`_var`) and by templates.

use serde_json::Value;

/// One step of a path: an object key, or a position that is also tried as a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed path. Empty segments (`a..b`) are dropped, as lodash does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

impl Path {
    /// Parses `a.b[0].c`. Never fails: text that is not a bracketed index is a key.
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        for part in text.split('.') {
            let mut rest = part;
            if let Some(open) = rest.find('[') {
                if open > 0 {
                    segments.push(Segment::Key(rest[..open].to_owned()));
                }
                rest = &rest[open..];
                while let Some(inner) = rest.strip_prefix('[') {
                    let Some(close) = inner.find(']') else {
                        segments.push(Segment::Key(rest.to_owned()));
                        rest = "";
                        break;
                    };
                    let label = inner[..close].trim_matches(|c| c == '"' || c == '\'');
                    segments.push(index_or_key(label));
                    rest = &inner[close + 1..];
                }
                if !rest.is_empty() {
                    segments.push(Segment::Key(rest.to_owned()));
                }
            } else if !rest.is_empty() {
                segments.push(index_or_key(rest));
            }
        }
        Self(segments)
    }

    /// The value at this path, or `None` when any step is missing.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(root, step)
    }
}

fn index_or_key(label: &str) -> Segment {
    match label.parse::<usize>() {
        Ok(index) if index.to_string() == label => Segment::Index(index),
        _ => Segment::Key(label.to_owned()),
    }
}

/// One step down: arrays take positions, objects take keys (a position is tried as the key
/// `"0"`, so `{"0": x}` is reachable as `a.0` like in JavaScript).
pub fn step<'v>(value: &'v Value, segment: &Segment) -> Option<&'v Value> {
    match (value, segment) {
        (Value::Array(items), Segment::Index(i)) => items.get(*i),
        (Value::Object(map), Segment::Key(key)) => map.get(key),
        (Value::Object(map), Segment::Index(i)) => map.get(&i.to_string()),
        _ => None,
    }
}

/// Lists every path in `value` as NocoBase's "parse" button does: containers and leaves,
/// objects joined with dots, arrays shown by their first element as `name[0]`.
pub fn list_paths(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_paths(value, String::new(), &mut out);
    out
}

fn collect_paths(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                out.push(path.clone());
                collect_paths(child, path, out);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                let path = format!("{prefix}[0]");
                out.push(path.clone());
                collect_paths(first, path, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_dots_and_brackets() {
        assert_eq!(
            Path::parse("query[0].a").0,
            vec![Segment::Key("query".into()), Segment::Index(0), Segment::Key("a".into())]
        );
        assert_eq!(
            Path::parse("a.1.b").0,
            vec![Segment::Key("a".into()), Segment::Index(1), Segment::Key("b".into())]
        );
        assert_eq!(Path::parse("a['x y']").0, vec![Segment::Key("a".into()), Segment::Key("x y".into())]);
        assert_eq!(Path::parse("a..b").0.len(), 2);
        assert_eq!(Path::parse("007").0, vec![Segment::Key("007".into())]);
    }

    #[test]
    fn gets_values() {
        let v = json!({"data": {"items": [{"id": 7}], "0": "zero"}, "n": null});
        assert_eq!(Path::parse("data.items[0].id").get(&v), Some(&json!(7)));
        assert_eq!(Path::parse("data.items.0.id").get(&v), Some(&json!(7)));
        assert_eq!(Path::parse("data.0").get(&v), Some(&json!("zero")));
        assert_eq!(Path::parse("n").get(&v), Some(&Value::Null));
        assert_eq!(Path::parse("data.missing.x").get(&v), None);
        assert_eq!(Path::parse("").get(&v), Some(&v));
    }

    #[test]
    fn lists_paths_like_the_parse_button() {
        assert_eq!(list_paths(&json!({"a": 1, "b": {"c": 2}})), vec!["a", "b", "b.c"]);
        assert_eq!(
            list_paths(&json!({"query": [{"a": 1}, {"b": 2}]})),
            vec!["query", "query[0]", "query[0].a"]
        );
    }
}
