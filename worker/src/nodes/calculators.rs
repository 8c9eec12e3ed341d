//! The basic engine's calculators, with JavaScript's loose comparison rules as NocoBase has
//! them: `"42"` equals `42`, `true` equals `1`, `null` equals only `null`; ordering compares
//! two strings as text and anything else as numbers.

use serde_json::Value;

/// Applies `calculator` (name or symbol) to two rendered operands.
pub fn compare(calculator: &str, left: &Value, right: &Value) -> Result<bool, String> {
    Ok(match calculator {
        "equal" | "==" => loose_equal(left, right),
        "notEqual" | "!=" => !loose_equal(left, right),
        "gt" | ">" => order(left, right).is_some_and(|o| o.is_gt()),
        "gte" | ">=" => order(left, right).is_some_and(|o| o.is_ge()),
        "lt" | "<" => order(left, right).is_some_and(|o| o.is_lt()),
        "lte" | "<=" => order(left, right).is_some_and(|o| o.is_le()),
        "includes" => includes(left, right),
        "notIncludes" => !includes(left, right),
        "startsWith" => text_op(left, right, |a, b| a.starts_with(b)),
        "notStartsWith" => !text_op(left, right, |a, b| a.starts_with(b)),
        "endsWith" => text_op(left, right, |a, b| a.ends_with(b)),
        "notEndsWith" => !text_op(left, right, |a, b| a.ends_with(b)),
        other => return Err(format!("unknown calculator {other:?}")),
    })
}

/// JavaScript's `ToNumber` for JSON values; `None` is NaN.
fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Null => Some(0.0),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                Some(0.0)
            } else {
                trimmed.parse::<f64>().ok().filter(|f| !f.is_nan())
            }
        }
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// `==`: same types compare by value (arrays and objects structurally); null equals only
/// null; otherwise both sides become numbers.
fn loose_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => left == right,
        _ => matches!((to_number(left), to_number(right)), (Some(a), Some(b)) if a == b),
    }
}

fn order(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => to_number(left)?.partial_cmp(&to_number(right)?),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A string contains a substring; an array contains an element (loosely equal).
fn includes(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|item| loose_equal(item, needle)),
        Value::Null => false,
        _ => text_op(haystack, needle, |a, b| a.contains(b)),
    }
}

fn text_op(left: &Value, right: &Value, op: impl Fn(&str, &str) -> bool) -> bool {
    match (text(left), text(right)) {
        (Some(a), Some(b)) => op(&a, &b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(calculator: &str, a: Value, b: Value) -> bool {
        compare(calculator, &a, &b).unwrap()
    }

    #[test]
    fn equality_is_loose() {
        assert!(check("equal", json!("42"), json!(42)));
        assert!(check("==", json!(1), json!(true)));
        assert!(check("equal", json!(1.0), json!(1)));
        assert!(check("equal", json!(null), json!(null)));
        assert!(!check("equal", json!(null), json!(0)));
        assert!(!check("equal", json!("abc"), json!(0)));
        assert!(check("equal", json!({"a": [1]}), json!({"a": [1]})));
        assert!(check("notEqual", json!("paid"), json!("open")));
        assert!(check("!=", json!("1"), json!(2)));
        assert!(!check("!=", json!("2"), json!(2)));
    }

    #[test]
    fn ordering() {
        assert!(check("gt", json!(5), json!(3)) && check(">", json!("10"), json!(9)));
        assert!(check("gte", json!(3), json!("3")) && check(">=", json!(4), json!(3)));
        assert!(check("lt", json!(2), json!(3)) && check("<", json!("a"), json!("b")));
        assert!(check("lte", json!(3), json!(3)) && check("<=", json!(null), json!(0)));
        assert!(!check("gt", json!("x"), json!(1)), "NaN compares false");
        assert!(check("lt", json!("10"), json!("9")), "two strings compare as text");
    }

    #[test]
    fn text_and_list_calculators() {
        assert!(check("includes", json!("order-123"), json!("123")));
        assert!(check("includes", json!(["a", 2]), json!("2")));
        assert!(check("notIncludes", json!(["a"]), json!("b")));
        assert!(!check("includes", json!(null), json!("a")));
        assert!(check("startsWith", json!("evt_paid"), json!("evt_")));
        assert!(check("notStartsWith", json!("evt_paid"), json!("x")));
        assert!(check("endsWith", json!("file.json"), json!(".json")));
        assert!(check("notEndsWith", json!("file.json"), json!(".xml")));
        assert!(check("startsWith", json!(12345), json!(12)));
    }

    #[test]
    fn unknown_calculators_are_errors() {
        assert!(compare("approximately", &json!(1), &json!(1)).is_err());
    }
}
