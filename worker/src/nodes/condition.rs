//! `condition`: the `basic` engine (calculators in nestable and/or groups), the `expression`
//! engine, or NocoBase's `math.js` and `formula.js` engines. Branch mode runs `branches.true` / `.false`; `rejectOnFalse` fails the execution
//! on false instead.

use hookflow_shared::engines::js::JsEngine;
use hookflow_shared::expression;
use hookflow_shared::model::{
    ConditionBranches, ConditionConfig, ConditionEngine, ExecutionStatus, GroupBody, GroupType,
};
use hookflow_shared::template::Variables;
use serde_json::Value;

use super::{Next, NodeResult};
use crate::nodes::{calculators, scripted};

pub fn run<'n>(
    key: &str,
    config: &ConditionConfig,
    branches: &'n ConditionBranches,
    variables: &Variables<'_>,
) -> NodeResult<'n> {
    let outcome = match config.engine {
        ConditionEngine::Basic => match &config.calculation {
            Some(calculation) => evaluate_group(&calculation.group, variables),
            None => Err("the basic engine needs a calculation".to_owned()),
        },
        ConditionEngine::Expression => match &config.expression {
            Some(text) => expression::evaluate(text, variables).map(|v| expression::is_truthy(&v)),
            None => Err("the expression engine needs an expression".to_owned()),
        },
        ConditionEngine::MathJs => return run_scripted(key, JsEngine::MathJs, config, branches, variables),
        ConditionEngine::FormulaJs => {
            return run_scripted(key, JsEngine::FormulaJs, config, branches, variables)
        }
    };
    let passed = match outcome {
        Ok(passed) => passed,
        Err(message) => return NodeResult::error(key, message),
    };
    if config.reject_on_false {
        return if passed {
            NodeResult::resolved(Value::Bool(true), Next::Continue)
        } else {
            NodeResult {
                status: ExecutionStatus::Failed,
                result: Value::Bool(false),
                next: Next::Stop {
                    status: ExecutionStatus::Failed,
                    reason: Some(format!("node {key}: condition was false")),
                },
            }
        };
    }
    let branch = if passed { &branches.on_true } else { &branches.on_false };
    NodeResult::resolved(Value::Bool(passed), Next::Branch(branch))
}

/// A `math.js` or `formula.js` condition, as NocoBase runs it: the result is not made a
/// boolean. `true` takes the true branch and `false` the false one; any other value takes
/// neither and the flow goes on. With `rejectOnFalse`, a falsy result (JavaScript's sense)
/// fails the execution.
fn run_scripted<'n>(
    key: &str,
    engine: JsEngine,
    config: &ConditionConfig,
    branches: &'n ConditionBranches,
    variables: &Variables<'_>,
) -> NodeResult<'n> {
    let Some(text) = &config.expression else {
        return NodeResult::error(key, "this engine needs an expression".to_owned());
    };
    let result = match scripted::evaluate(engine, text, variables) {
        Ok(result) => result,
        Err(message) => return NodeResult::error(key, message),
    };
    if config.reject_on_false {
        if expression::is_truthy(&result) {
            return NodeResult::resolved(result, Next::Continue);
        }
        return NodeResult {
            status: ExecutionStatus::Failed,
            result,
            next: Next::Stop {
                status: ExecutionStatus::Failed,
                reason: Some(format!("node {key}: condition was false")),
            },
        };
    }
    let next = match result {
        Value::Bool(true) => Next::Branch(&branches.on_true),
        Value::Bool(false) => Next::Branch(&branches.on_false),
        _ => Next::Continue,
    };
    NodeResult::resolved(result, next)
}

/// `and`: every entry holds (true when empty); `or`: any entry holds (false when empty).
/// Every entry is evaluated in order so an unknown calculator is reported even when an
/// earlier entry already decided the group.
fn evaluate_group(group: &GroupBody, variables: &Variables<'_>) -> Result<bool, String> {
    let mut results = Vec::with_capacity(group.calculations.len());
    for item in &group.calculations {
        let result = match (&item.group, &item.calculator, &item.operands) {
            (Some(nested), None, None) => evaluate_group(nested, variables)?,
            (None, Some(calculator), Some(operands)) => {
                let render = |operand: Option<&Value>| match operand {
                    Some(value) => variables.render_value(value).map_err(|e| e.to_string()),
                    None => Ok(Value::Null),
                };
                let (left, right) = (render(operands.first())?, render(operands.get(1))?);
                calculators::compare(calculator, &left, &right)?
            }
            _ => return Err("a calculation is either {calculator, operands} or {group}".to_owned()),
        };
        results.push(result);
    }
    Ok(match group.kind {
        GroupType::And => results.iter().all(|r| *r),
        GroupType::Or => results.iter().any(|r| *r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookflow_shared::model::CalculationItem;
    use serde_json::{json, Map};

    fn group(kind: GroupType, items: Vec<CalculationItem>) -> GroupBody {
        GroupBody { kind, calculations: items }
    }

    fn cmp(calculator: &str, a: Value, b: Value) -> CalculationItem {
        CalculationItem { calculator: Some(calculator.into()), operands: Some(vec![a, b]), group: None }
    }

    fn nested(body: GroupBody) -> CalculationItem {
        CalculationItem { calculator: None, operands: None, group: Some(body) }
    }

    fn eval(body: GroupBody) -> Result<bool, String> {
        let context = json!({"body": {"status": "paid", "amount": 42}});
        let (jobs, scopes) = (Map::new(), Map::new());
        evaluate_group(&body, &Variables { context: &context, jobs: &jobs, scopes: &scopes })
    }

    #[test]
    fn nested_and_or_groups() {
        let paid = cmp("equal", json!("{{$context.body.status}}"), json!("paid"));
        let big = cmp("gt", json!("{{$context.body.amount}}"), json!(100));
        let small = cmp("<", json!("{{$context.body.amount}}"), json!(50));
        assert!(eval(group(
            GroupType::And,
            vec![paid.clone(), nested(group(GroupType::Or, vec![big.clone(), small.clone()]))]
        ))
        .unwrap());
        assert!(!eval(group(GroupType::And, vec![paid.clone(), big.clone()])).unwrap());
        assert!(eval(group(GroupType::Or, vec![big.clone(), paid.clone()])).unwrap());
        assert!(eval(group(GroupType::And, vec![])).unwrap(), "an empty and-group holds");
        assert!(!eval(group(GroupType::Or, vec![])).unwrap(), "an empty or-group does not");
    }

    #[test]
    fn unknown_calculator_is_an_error() {
        let err = eval(group(
            GroupType::Or,
            vec![cmp("equal", json!(1), json!(1)), cmp("roughly", json!(1), json!(2))],
        ))
        .unwrap_err();
        assert!(err.contains("roughly"), "{err}");
    }

    fn node_result(config: Value, on_true: usize) -> (ExecutionStatus, Value, &'static str) {
        let config: ConditionConfig = serde_json::from_value(config).unwrap();
        let branches: &'static ConditionBranches = Box::leak(Box::new(ConditionBranches {
            on_true: (0..on_true)
                .map(|i| hookflow_shared::model::Node::End {
                    key: format!("e{i}"),
                    title: None,
                    config: Default::default(),
                })
                .collect(),
            on_false: vec![],
        }));
        let context = json!({"body": {"status": "paid"}});
        let (jobs, scopes) = (Map::new(), Map::new());
        let result =
            run("c", &config, branches, &Variables { context: &context, jobs: &jobs, scopes: &scopes });
        let next = match result.next {
            Next::Continue => "continue",
            Next::Branch(b) if b.len() == on_true => "true-branch",
            Next::Branch(_) => "false-branch",
            Next::Stop { .. } => "stop",
            Next::Reply(_) => "reply",
        };
        (result.status, result.result, next)
    }

    #[test]
    fn branch_mode_and_reject_on_false() {
        let basic = |status: &str, reject: bool| {
            json!({"rejectOnFalse": reject, "calculation": {"group": {"type": "and", "calculations": [
                {"calculator": "==", "operands": ["{{$context.body.status}}", status]}]}}})
        };
        assert_eq!(
            node_result(basic("paid", false), 1),
            (ExecutionStatus::Resolved, json!(true), "true-branch")
        );
        assert_eq!(
            node_result(basic("open", false), 1),
            (ExecutionStatus::Resolved, json!(false), "false-branch")
        );
        assert_eq!(node_result(basic("paid", true), 0), (ExecutionStatus::Resolved, json!(true), "continue"));
        assert_eq!(node_result(basic("open", true), 0), (ExecutionStatus::Failed, json!(false), "stop"));
        let expression =
            json!({"engine": "expression", "expression": "{{$context.body.status}} == \"paid\""});
        assert_eq!(node_result(expression, 1), (ExecutionStatus::Resolved, json!(true), "true-branch"));
    }

    #[test]
    fn javascript_engines_branch_on_true_and_false_only() {
        let formula = |expression: &str, reject: bool| json!({"engine": "formula.js", "rejectOnFalse": reject, "expression": expression});
        assert_eq!(
            node_result(formula("{{$context.body.status}} == 'paid'", false), 1),
            (ExecutionStatus::Resolved, json!(true), "true-branch")
        );
        assert_eq!(
            node_result(formula("{{$context.body.status}} == 'open'", false), 1),
            (ExecutionStatus::Resolved, json!(false), "false-branch")
        );
        // NocoBase does not make the result a boolean: a truthy 1 takes neither branch.
        assert_eq!(node_result(formula("1", false), 1), (ExecutionStatus::Resolved, json!(1), "continue"));
        assert_eq!(node_result(formula("0", true), 0), (ExecutionStatus::Failed, json!(0), "stop"));
        assert_eq!(
            node_result(formula("'yes'", true), 0),
            (ExecutionStatus::Resolved, json!("yes"), "continue")
        );
        let math = json!({"engine": "math.js", "expression": "{{$context.body.missing}} == null"});
        assert_eq!(node_result(math, 1), (ExecutionStatus::Resolved, json!(true), "true-branch"));
        let broken = node_result(json!({"engine": "math.js", "expression": "1 1"}), 1);
        assert_eq!((broken.0, broken.2), (ExecutionStatus::Error, "stop"));
        assert!(broken.1["error"].as_str().is_some_and(|m| m.starts_with("SyntaxError")), "{}", broken.1);
    }
}
