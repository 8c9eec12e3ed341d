//! The `expression` engine of condition and calculation nodes, on the `evalexpr` crate.
//!
//! Placeholders are not pasted into the expression text (that would let data change the
//! expression's meaning): each `{{ … }}` is bound to a variable holding its rendered, typed
//! value. Arithmetic, comparison, boolean logic and evalexpr's string functions
//! (`str::to_uppercase`, `len`, `contains`, …) are available.

use evalexpr::{build_operator_tree, ContextWithMutableVariables, DefaultNumericTypes, HashMapContext, Node};
use serde_json::{Number, Value};

use crate::template::{self, Variables};

type ExprValue = evalexpr::Value<DefaultNumericTypes>;

/// An expression with its placeholders replaced by variables `__hf0`, `__hf1`, ….
struct Prepared<'s> {
    tree: Node<DefaultNumericTypes>,
    placeholders: Vec<&'s str>,
}

fn prepare(text: &str) -> Result<Prepared<'_>, String> {
    let mut source = String::with_capacity(text.len());
    let mut placeholders = Vec::new();
    let mut last = 0;
    for (start, end) in template::placeholder_spans(text).map_err(|e| e.to_string())? {
        source.push_str(&text[last..start]);
        source.push_str(&format!(" __hf{} ", placeholders.len()));
        placeholders.push(&text[start..end]);
        last = end;
    }
    source.push_str(&text[last..]);
    let tree = build_operator_tree::<DefaultNumericTypes>(&source).map_err(|e| format!("expression: {e}"))?;
    check_shape(&tree)?;
    Ok(Prepared { tree, placeholders })
}

/// evalexpr builds a tree even for `1 +`; the missing operand would only show when evaluated.
/// Checking each operator's operand count here reports it when the workflow is saved. Writes
/// (`a = 1`) are refused: an expression computes a value, it does not set variables.
fn check_shape(node: &Node<DefaultNumericTypes>) -> Result<(), String> {
    use evalexpr::Operator::*;
    let operands = node.children().len();
    let expected = match node.operator() {
        Add | Sub | Mul | Div | Mod | Exp | Eq | Neq | Gt | Lt | Geq | Leq | And | Or => Some(2),
        Not | Neg | FunctionIdentifier { .. } => Some(1),
        Assign
        | AddAssign
        | SubAssign
        | MulAssign
        | DivAssign
        | ModAssign
        | ExpAssign
        | AndAssign
        | OrAssign
        | VariableIdentifierWrite { .. } => return Err("expression: assignments are not allowed".into()),
        _ => None,
    };
    if expected.is_some_and(|n| n != operands) {
        return Err(format!("expression: operator {} is missing an operand", node.operator()));
    }
    node.children().iter().try_for_each(check_shape)
}

/// Checks that an expression parses (used when a workflow is saved).
pub fn check(text: &str) -> Result<(), String> {
    template::check(text).map_err(|e| e.to_string())?;
    prepare(text).map(|_| ())
}

/// Evaluates an expression against the execution's variables.
pub fn evaluate(text: &str, variables: &Variables<'_>) -> Result<Value, String> {
    let prepared = prepare(text)?;
    let mut context = HashMapContext::<DefaultNumericTypes>::new();
    for (i, placeholder) in prepared.placeholders.iter().enumerate() {
        let value = to_expr(&variables.render_str(placeholder));
        context.set_value(format!("__hf{i}"), value).map_err(|e| format!("expression: {e}"))?;
    }
    let result = prepared.tree.eval_with_context(&context).map_err(|e| format!("expression: {e}"))?;
    Ok(from_expr(result))
}

/// JSON → evalexpr. Whole numbers stay integers so `{{a}} == 42` compares as expected;
/// objects become their JSON text (evalexpr has no maps).
fn to_expr(value: &Value) -> ExprValue {
    match value {
        Value::Null => ExprValue::Empty,
        Value::Bool(b) => ExprValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ExprValue::Int(i),
            None => ExprValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => ExprValue::String(s.clone()),
        Value::Array(items) => ExprValue::Tuple(items.iter().map(to_expr).collect()),
        Value::Object(_) => ExprValue::String(value.to_string()),
    }
}

fn from_expr(value: ExprValue) -> Value {
    match value {
        ExprValue::Empty => Value::Null,
        ExprValue::Boolean(b) => Value::Bool(b),
        ExprValue::Int(i) => Value::from(i),
        ExprValue::Float(f) => Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        ExprValue::String(s) => Value::String(s),
        ExprValue::Tuple(items) => Value::Array(items.into_iter().map(from_expr).collect()),
    }
}

/// JavaScript-like truthiness, for conditions on expressions.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn eval(text: &str) -> Result<Value, String> {
        let context = json!({"body": {"amount": 40, "price": 2.5, "status": "paid", "name": "Ann", "none": null,
                                      "evil": "1) + (2"}});
        let jobs: Map<String, Value> = json!({"first": 2}).as_object().unwrap().clone();
        let scopes = Map::new();
        evaluate(text, &Variables { context: &context, jobs: &jobs, scopes: &scopes })
    }

    #[test]
    fn arithmetic_on_rendered_values() {
        assert_eq!(eval("{{$context.body.amount}} + 2").unwrap(), json!(42));
        assert_eq!(eval("{{$context.body.amount}} * {{$jobsMapByNodeKey.first}}").unwrap(), json!(80));
        assert_eq!(eval("{{$context.body.price}} * 2").unwrap(), json!(5.0));
        assert_eq!(eval("(1 + 2) * 3 % 4").unwrap(), json!(1));
    }

    #[test]
    fn comparison_and_logic() {
        assert_eq!(
            eval("{{$context.body.status}} == \"paid\" && {{$context.body.amount}} > 10").unwrap(),
            json!(true)
        );
        assert_eq!(eval("!({{$context.body.amount}} >= 41) || false").unwrap(), json!(true));
    }

    #[test]
    fn string_functions() {
        assert_eq!(eval("str::to_uppercase({{$context.body.name}})").unwrap(), json!("ANN"));
        assert_eq!(eval("\"id-\" + {{$context.body.status}}").unwrap(), json!("id-paid"));
        assert_eq!(eval("len({{$context.body.name}})").unwrap(), json!(3));
    }

    #[test]
    fn data_cannot_change_the_expression() {
        assert_eq!(eval("{{$context.body.evil}}").unwrap(), json!("1) + (2"));
    }

    #[test]
    fn errors_are_reported() {
        assert!(eval("1 + \"a\" * 2").is_err());
        assert!(check("1 +").is_err());
        assert!(check("{{$context.body.amount}} > 1").is_ok());
        assert!(check("{{$context.body.amount > 1").is_err());
    }

    #[test]
    fn truthiness() {
        assert!(is_truthy(&json!(1)) && is_truthy(&json!("x")) && is_truthy(&json!({})));
        assert!(!is_truthy(&json!(0)) && !is_truthy(&json!("")) && !is_truthy(&Value::Null));
    }
}
