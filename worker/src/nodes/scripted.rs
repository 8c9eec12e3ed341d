//! Evaluates a compiled expression. For NocoBase's `math.js` and `formula.js` engines, each
//! `{{path}}` is bound as a variable holding the path's value (null when there is none) and the
//! expression is run by the real library in the embedded JavaScript runtime.

use hookflow_shared::compiled::Evaluation;
use hookflow_shared::engines::js;
use hookflow_shared::expression;
use hookflow_shared::template::Variables;
use serde_json::{Map, Value};

/// The expression's value, or the message the job ends in `error` with.
pub fn evaluate(evaluation: &Evaluation, variables: &Variables<'_>) -> Result<Value, String> {
    match evaluation {
        Evaluation::Native(compiled) => expression::evaluate(compiled, variables),
        Evaluation::Script { engine, source, bindings } => {
            let mut values = Map::with_capacity(bindings.len());
            let mut bytes = 0usize;
            for binding in bindings {
                let value = variables.resolve(&binding.path).map_err(|e| format!("expression: {e}"))?;
                let value = value.into_json().unwrap_or(Value::Null);
                expression::charge_bound(&mut bytes, &value)?;
                values.insert(binding.name.clone(), value);
            }
            js::evaluate(*engine, source, &values).map_err(|error| error.to_string())
        }
        Evaluation::Invalid(message) => Err(message.clone()),
    }
}

#[cfg(test)]
mod tests {
    //! NocoBase's evaluator and calculation-node tests (`core/evaluators` `index.test.ts`,
    //! `instructions/calculation.test.ts`), through the compiled form.
    use super::*;
    use hookflow_shared::compiled::{Action, CompiledWorkflow};
    use hookflow_shared::model::decode_workflow;
    use serde_json::json;
    use std::sync::Arc;

    fn calculate(engine: &str, expression: &str, context: Value) -> Result<Value, String> {
        let definition = decode_workflow(json!({"key": "wf-1", "trigger": {"type": "webhook"}, "nodes": [
            {"key": "n", "type": "calculation", "config": {"engine": engine, "expression": expression}}]}))
        .unwrap();
        let workflow = CompiledWorkflow::compile(Arc::new(definition));
        let Action::Calculation(evaluation) = &workflow.nodes[0].action else { panic!("a calculation") };
        let jobs = json!({"n1": {"data": {"read": 0}}}).as_object().unwrap().clone();
        let scopes = Map::new();
        evaluate(evaluation, &Variables { context: &context, jobs: &jobs, scopes: &scopes })
    }

    #[test]
    fn placeholders_are_bound_with_lodash_paths() {
        let f = |expression: &str, context: Value| calculate("formula.js", expression, context);
        assert_eq!(f("{{$context.a.b}}", json!({"a": null})), Ok(Value::Null));
        assert_eq!(f("{{$context.a.b}}", json!({"a": [{"b": 1}, {"b": 2}]})), Ok(json!([1, 2])));
        assert_eq!(f("{{$context.a-b}}", json!({"a-b": 1})), Ok(json!(1)));
        assert_eq!(f("{{$context.a.b-c}}", json!({"a": {"b-c": 1}})), Ok(json!(1)));
        assert_eq!(f("{{$context.a.1a}}", json!({"a": {"1a": 1}})), Ok(json!(1)));
        assert_eq!(f("{{$context.a}}", json!({"a": 1609459200000_i64})), Ok(json!(1609459200000_i64)));
        let m = |expression: &str, context: Value| calculate("math.js", expression, context);
        assert_eq!(m("{{$context.a.0}}", json!({"a": [1, 2, 3]})), Ok(json!(1)));
        assert_eq!(m("{{$context.a.1}}", json!({"a": {"1": 1}})), Ok(json!(1)));
        assert_eq!(m("{{$context.a}}[1]", json!({"a": [1, 2, 3]})), Ok(json!(1)));
        assert!(m("{{$context.a}}[0]", json!({"a": [1, 2, 3]})).is_err(), "math.js indexes from 1");
    }

    #[test]
    fn calculation_node_cases() {
        let m =
            |expression: &str| calculate("math.js", expression, json!({"data": {"read": 1, "title": "t1"}}));
        assert!(m("1 1").unwrap_err().starts_with("SyntaxError: "));
        assert_eq!(m(" 1 + 1 "), Ok(json!(2)));
        assert_eq!(m("{{$context.data.read}} + 1"), Ok(json!(2)));
        assert_eq!(m("{{$jobsMapByNodeKey.n1.data.read}} + 1"), Ok(json!(1)));
        let now = m("{{$system.now}}").unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(now.as_str().unwrap()).is_ok(), "{now}");
        let f = |expression: &str| calculate("formula.js", expression, json!({"data": {"title": "t1"}}));
        assert_eq!(
            f("CONCATENATE('a', '{{$context.data.title}}')"),
            Ok(json!("a$$0")),
            "a quoted placeholder is not a value"
        );
        assert_eq!(f("CONCATENATE('a', {{$context.data.title}})"), Ok(json!("at1")));
    }

    #[test]
    fn bound_values_are_limited() {
        let big = json!({"big": "x".repeat(expression::MAX_BOUND_BYTES / 3)});
        assert!(calculate("formula.js", "LEN({{$context.big}})", big.clone()).is_ok());
        let many = calculate(
            "formula.js",
            "{{$context.big}} + {{$context.big.length}} + {{$context.big}}",
            big.clone(),
        );
        assert!(many.is_ok(), "one path bound once: {many:?}");
        let mut four = big;
        for name in ["a", "b", "c"] {
            four[name] = four["big"].clone();
        }
        let error = calculate(
            "formula.js",
            "{{$context.big}} + {{$context.a}} + {{$context.b}} + {{$context.c}}",
            four,
        )
        .unwrap_err();
        assert!(error.contains("larger than"), "{error}");
    }
}
