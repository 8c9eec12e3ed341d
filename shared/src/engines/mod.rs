//! NocoBase's expression engines. `math.js` and `formula.js` run in the embedded JavaScript
//! runtime of [`js`]; an expression's `{{path}}` placeholders are bound as variables
//! ([`bind_placeholders`]), never pasted into its source, as NocoBase's evaluators do.

pub mod js;

/// An expression with its placeholders replaced by variable names (`$$0`, `$$1`, … one per
/// distinct path, in order of first appearance), ready to be evaluated with the values of
/// `paths` bound to those names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundExpression {
    pub source: String,
    /// The variable paths, `$$i` being `paths[i]`.
    pub paths: Vec<String>,
}

/// NocoBase's pre-processing (`core/evaluators/src/utils` `evaluate`): the expression is
/// trimmed and every `{{ path }}` whose path is made of word characters, `$`, `.` and `-`
/// becomes a variable; anything else between braces is left as it is (and usually fails to
/// parse). A placeholder inside a quoted string is replaced all the same, as in NocoBase.
pub fn bind_placeholders(expression: &str) -> BoundExpression {
    let text = expression.trim();
    let mut source = String::with_capacity(text.len());
    let mut paths: Vec<String> = Vec::new();
    let mut indexes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        source.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            source.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let path = after[..close].trim();
        // JavaScript's `\w` is ASCII: a non-ASCII path is left as text, as in NocoBase.
        let is_path = !path.is_empty()
            && path
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'.' || c == b'-');
        if is_path {
            let index = *indexes.entry(path).or_insert_with(|| {
                paths.push(path.to_owned());
                paths.len() - 1
            });
            source.push_str(&format!("$${index}"));
            rest = &after[close + 2..];
        } else {
            source.push_str("{{");
            rest = after;
        }
    }
    source.push_str(rest);
    BoundExpression { source, paths }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(expression: &str) -> (String, Vec<String>) {
        let BoundExpression { source, paths } = bind_placeholders(expression);
        (source, paths)
    }

    #[test]
    fn placeholders_become_variables_as_in_nocobase() {
        // NocoBase's evaluator pre-processing tests.
        assert_eq!(bound("{{a}}"), ("$$0".into(), vec!["a".to_owned()]));
        assert_eq!(bound("a{{a}}b"), ("a$$0b".into(), vec!["a".to_owned()]));
        assert_eq!(bound("{{a}} {{a}}"), ("$$0 $$0".into(), vec!["a".to_owned()]));
        assert_eq!(bound("{{ a.0 }} + {{b}}"), ("$$0 + $$1".into(), vec!["a.0".to_owned(), "b".to_owned()]));
        assert_eq!(bound("  {{a-b}}  "), ("$$0".into(), vec!["a-b".to_owned()]));
        assert_eq!(
            bound("CONCATENATE('a', '{{x}}')"),
            ("CONCATENATE('a', '$$0')".into(), vec!["x".to_owned()])
        );
        // Not a path: left in place.
        assert_eq!(bound("{{a + b}}"), ("{{a + b}}".into(), Vec::<String>::new()));
        assert_eq!(bound("{{a"), ("{{a".into(), Vec::<String>::new()));
        assert_eq!(bound("{{$context.body.n}} * 2"), ("$$0 * 2".into(), vec!["$context.body.n".to_owned()]));
    }
}
