//! The `expression` engine of condition and calculation nodes, on the `evalexpr` crate.
//!
//! Placeholders are not pasted into the expression text (that would let data change the
//! expression's meaning): each `{{ … }}` is bound to a variable holding its rendered, typed
//! value. Arithmetic, comparison, boolean logic and evalexpr's string functions
//! (`str::to_uppercase`, `len`, `contains`, …) are available. An expression is parsed once per
//! loaded workflow version ([`compile`]) and evaluated per execution ([`evaluate`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use evalexpr::{build_operator_tree, Context, DefaultNumericTypes, EvalexprError, EvalexprResult, Node};
use serde_json::{Number, Value};

use crate::template::{self, Template, Variables};

type ExprValue = evalexpr::Value<DefaultNumericTypes>;
type ExprResult = EvalexprResult<ExprValue, DefaultNumericTypes>;

/// Longest expression accepted.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Most operator characters (`+`, `==`, `!`, `,` …) in one expression. evalexpr builds and
/// walks its tree recursively, one stack frame per level, and a chain of operators is as deep
/// as it is long; this bound keeps the deepest tree far inside any thread's stack.
pub const MAX_OPERATORS: usize = 256;
/// Deepest nesting of parentheses.
pub const MAX_NESTING: usize = 32;
/// Most bytes of placeholder values bound into one evaluation: every operation's result is
/// built from these, so they bound what the evaluation can allocate.
pub const MAX_BOUND_BYTES: usize = 4 << 20;

/// An expression parsed, its placeholders replaced by variables `__hf0`, `__hf1`, … whose
/// values are the placeholders' rendered values.
#[derive(Debug, Clone)]
pub struct Compiled {
    tree: Node<DefaultNumericTypes>,
    placeholders: Vec<Template>,
}

/// Checks the size limits on the text evalexpr will parse, in one pass with no recursion.
fn check_limits(source: &str) -> Result<(), String> {
    let (mut operators, mut depth) = (0usize, 0usize);
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // String literals may hold anything; skip to the closing quote.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!("expression: parentheses nested deeper than {MAX_NESTING}"));
                }
            }
            ')' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '^' | '!' | '<' | '>' | '=' | '&' | '|' | ',' | ';' => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(format!("expression: more than {MAX_OPERATORS} operators"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses an expression (when a version is loaded, and to check it when it is saved).
pub fn compile(text: &str) -> Result<Compiled, String> {
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(format!("expression: longer than {MAX_EXPRESSION_BYTES} bytes"));
    }
    let mut source = String::with_capacity(text.len());
    let mut placeholders = Vec::new();
    let mut last = 0;
    for (start, end) in template::placeholder_spans(text).map_err(|e| e.to_string())? {
        source.push_str(&text[last..start]);
        source.push_str(&format!(" __hf{} ", placeholders.len()));
        placeholders.push(Template::compile(&Value::String(text[start..end].to_owned())));
        last = end;
    }
    source.push_str(&text[last..]);
    check_limits(&source)?;
    let tree = contained(|| build_operator_tree::<DefaultNumericTypes>(&source))?
        .map_err(|e| format!("expression: {e}"))?;
    check_shape(&tree)?;
    Ok(Compiled { tree, placeholders })
}

/// Runs a call into evalexpr, turning a panic inside the library into an error: a value sent
/// by a caller must never take the process (or the execution's record) down with it.
fn contained<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|_| "expression: the evaluation failed".to_owned())
}

/// evalexpr builds a tree even for `1 +`; the missing operand would only show when evaluated.
/// Checking each operator's operand count here reports it when the workflow is saved. Writes
/// (`a = 1`) are refused: an expression computes a value, it does not set variables.
fn check_shape(root: &Node<DefaultNumericTypes>) -> Result<(), String> {
    use evalexpr::Operator::*;
    // Iterative: the tree's depth is bounded by `check_limits`, but this costs nothing.
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
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
        pending.extend(node.children());
    }
    Ok(())
}

/// Checks that an expression parses and stays within the limits (used when a workflow is saved).
pub fn check(text: &str) -> Result<(), String> {
    template::check(text).map_err(|e| e.to_string())?;
    compile(text).map(|_| ())
}

/// Adds `value` to what one evaluation has bound so far (`bytes`), refusing past
/// [`MAX_BOUND_BYTES`]; every engine binds under this one limit.
pub fn charge_bound(bytes: &mut usize, value: &Value) -> Result<(), String> {
    *bytes += template::approx_size(value, MAX_BOUND_BYTES);
    if *bytes > MAX_BOUND_BYTES {
        return Err(format!("expression: its values are larger than {MAX_BOUND_BYTES} bytes together"));
    }
    Ok(())
}

/// Evaluates a compiled expression against the execution's variables.
pub fn evaluate(compiled: &Compiled, variables: &Variables<'_>) -> Result<Value, String> {
    let mut bound = Bound { values: Vec::with_capacity(compiled.placeholders.len()) };
    let mut bytes = 0usize;
    for placeholder in &compiled.placeholders {
        let value = variables.render(placeholder).map_err(|e| format!("expression: {e}"))?;
        charge_bound(&mut bytes, &value)?;
        bound.values.push(to_expr(&value));
    }
    let result =
        contained(|| compiled.tree.eval_with_context(&bound))?.map_err(|e| format!("expression: {e}"))?;
    Ok(from_expr(result))
}

/// The placeholder values of one evaluation, and safe versions of the evalexpr functions
/// that panic on some inputs (byte offsets inside a character, shifts of 64 or more).
struct Bound {
    values: Vec<ExprValue>,
}

impl Context for Bound {
    type NumericTypes = DefaultNumericTypes;

    fn get_value(&self, identifier: &str) -> Option<&ExprValue> {
        let index: usize = identifier.strip_prefix("__hf")?.parse().ok()?;
        self.values.get(index)
    }

    fn call_function(&self, identifier: &str, argument: &ExprValue) -> ExprResult {
        match identifier {
            "str::substring" => substring(argument),
            "shl" => shift(argument, i64::checked_shl),
            "shr" => shift(argument, i64::checked_shr),
            // Anything else falls through to evalexpr's built-in functions.
            _ => Err(EvalexprError::FunctionIdentifierNotFound(identifier.to_owned())),
        }
    }

    fn are_builtin_functions_disabled(&self) -> bool {
        false
    }

    fn set_builtin_functions_disabled(&mut self, _disabled: bool) -> EvalexprResult<(), DefaultNumericTypes> {
        Err(EvalexprError::BuiltinFunctionsCannotBeDisabled)
    }
}

/// `str::substring(text, start[, end])` over byte offsets, refusing offsets inside a character.
fn substring(argument: &ExprValue) -> ExprResult {
    let args = argument.as_ranged_len_tuple(2..=3)?;
    let subject = args[0].as_string()?;
    let offset = |value: &ExprValue| -> EvalexprResult<usize, DefaultNumericTypes> {
        usize::try_from(value.as_int()?).map_err(|_| EvalexprError::OutOfBoundsAccess)
    };
    let start = offset(&args[1])?;
    let end = match args.get(2) {
        Some(end) => offset(end)?,
        None => subject.len(),
    };
    subject.get(start..end).map(ExprValue::from).ok_or(EvalexprError::OutOfBoundsAccess)
}

/// `shl(a, b)` / `shr(a, b)`: a shift by a negative amount or by 64 or more is an error.
fn shift(argument: &ExprValue, op: fn(i64, u32) -> Option<i64>) -> ExprResult {
    let args = argument.as_fixed_len_tuple(2)?;
    let (value, by) = (args[0].as_int()?, args[1].as_int()?);
    u32::try_from(by)
        .ok()
        .and_then(|by| op(value, by))
        .map(ExprValue::Int)
        .ok_or(EvalexprError::OutOfBoundsAccess)
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
        evaluate(&compile(text)?, &Variables { context: &context, jobs: &jobs, scopes: &scopes })
    }

    fn run(text: &str, v: &Variables<'_>) -> Result<Value, String> {
        evaluate(&compile(text)?, v)
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

    #[test]
    fn long_and_deep_expressions_are_refused_before_parsing() {
        for terms in [4_000, 10_000] {
            let text = vec!["1"; terms].join("+");
            let error = check(&text).unwrap_err();
            assert!(error.contains("longer than") || error.contains("operators"), "{error}");
        }
        let chain = vec!["1"; MAX_OPERATORS + 2].join("+");
        assert!(check(&chain).unwrap_err().contains("operators"));
        let nested = format!("{}1{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert!(check(&nested).unwrap_err().contains("nested"));
        // Operators inside string literals do not count.
        assert!(check(&format!("\"{}\" == \"a\"", "+".repeat(1000))).is_ok());
    }

    #[test]
    fn the_largest_accepted_expression_runs_on_a_small_stack() {
        // The deepest tree the limits allow, built and evaluated on a 512 KiB stack (tokio and
        // actix threads have 2 MiB): the limits leave the stack a wide margin.
        let inner = vec!["1"; MAX_OPERATORS - 2 * MAX_NESTING].join("+");
        let text = format!("{}{inner}{}", "-(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(check(&text).is_ok(), "{:?}", check(&text));
        let result = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || eval(&text))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn library_panics_become_errors() {
        let context = json!({"body": {"word": "é-caf", "n": 64}});
        let (jobs, scopes) = (Map::new(), Map::new());
        let v = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        let err = run("str::substring({{$context.body.word}}, 1, 2)", &v).unwrap_err();
        assert!(err.contains("expression"), "{err}");
        assert_eq!(run("str::substring({{$context.body.word}}, 2)", &v).unwrap(), json!("-caf"));
        assert!(run("shl(1, {{$context.body.n}})", &v).is_err());
        assert!(run("shr(1, -1)", &v).is_err());
        assert_eq!(run("shl(1, 3)", &v).unwrap(), json!(8));
    }

    #[test]
    fn bound_values_are_limited() {
        let context = json!({"body": {"big": "x".repeat(MAX_BOUND_BYTES / 3)}});
        let (jobs, scopes) = (Map::new(), Map::new());
        let v = Variables { context: &context, jobs: &jobs, scopes: &scopes };
        assert!(run("len({{$context.body.big}})", &v).is_ok());
        let many = ["{{$context.body.big}}"; 4].join(" + ");
        assert!(run(&many, &v).unwrap_err().contains("larger than"));
    }
}
