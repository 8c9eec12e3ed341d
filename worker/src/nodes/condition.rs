//! `condition`, as NocoBase's: the `basic` engine (calculators in nestable and/or groups,
//! evaluated in order and stopping once a group is decided, as JavaScript's `every` and `some`
//! do), Hookflow's `expression` engine, or NocoBase's `math.js` and `formula.js`. Branch mode
//! runs the true or false branch; `rejectOnFalse` fails the execution on false instead.

use hookflow_shared::compiled::{Condition, Evaluation, Group, Item, Test};
use hookflow_shared::expression;
use hookflow_shared::js_value::Datum;
use hookflow_shared::model::{ExecutionStatus, GroupType};
use hookflow_shared::template::Variables;
use serde_json::Value;

use super::{calculators, scripted, Next, NodeResult};

pub fn run<'n>(key: &str, condition: &'n Condition, variables: &Variables<'_>) -> NodeResult<'n> {
    let result = match &condition.test {
        Test::Basic(group) => evaluate_group(group, variables).map(Value::Bool),
        // Hookflow's own engine: its value taken as JavaScript would take it in an `if`.
        Test::Expression(evaluation @ Evaluation::Native(_)) => {
            scripted::evaluate(evaluation, variables).map(|v| Value::Bool(expression::is_truthy(&v)))
        }
        // NocoBase's engines: the value is kept as it is.
        Test::Expression(evaluation) => scripted::evaluate(evaluation, variables),
    };
    let result = match result {
        Ok(result) => result,
        Err(message) => return NodeResult::error(key, message),
    };
    if condition.reject_on_false {
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
    // NocoBase looks for the branch whose `Boolean(branchIndex) === result`: only `true` and
    // `false` match one; any other value runs neither and the flow goes on.
    let next = match result {
        Value::Bool(true) => Next::Branch(&condition.on_true),
        Value::Bool(false) => Next::Branch(&condition.on_false),
        _ => Next::Continue,
    };
    NodeResult::resolved(result, next)
}

/// `and`: every entry holds (true when empty); `or`: any entry holds (false when empty).
fn evaluate_group(group: &Group, variables: &Variables<'_>) -> Result<bool, String> {
    for item in &group.items {
        let holds = match item {
            Item::Always => true,
            Item::Group(nested) => evaluate_group(nested, variables)?,
            Item::Compare { calculator, operands } => {
                let mut rendered: Vec<Datum<'_>> = Vec::with_capacity(operands.len());
                for operand in operands {
                    rendered.push(variables.render_datum(operand).map_err(|e| e.to_string())?);
                }
                calculators::apply(calculator, &rendered)?
            }
            Item::Invalid(message) => return Err((*message).to_owned()),
        };
        match (group.kind, holds) {
            (GroupType::And, false) => return Ok(false),
            (GroupType::Or, true) => return Ok(true),
            _ => {}
        }
    }
    Ok(group.kind == GroupType::And)
}

#[cfg(test)]
mod tests {
    //! NocoBase's condition tests (`instructions/condition.test.ts`, `logicCalculate.test.ts`
    //! groups), case by case.
    use super::*;
    use hookflow_shared::compiled::{Action, CompiledWorkflow};
    use hookflow_shared::model::decode_workflow;
    use serde_json::{json, Map};
    use std::sync::Arc;

    fn compiled(config: Value) -> CompiledWorkflow {
        let reject = config.get("rejectOnFalse").and_then(Value::as_bool).unwrap_or(false);
        let mut node = json!({"key": "c", "type": "condition", "config": config});
        if !reject {
            node["branches"] = json!({"true": [{"key": "t", "type": "end"}], "false": [{"key": "f1", "type": "end"}, {"key": "f2", "type": "end"}]});
        }
        let definition =
            decode_workflow(json!({"key": "wf-1", "trigger": {"type": "webhook"}, "nodes": [node]})).unwrap();
        CompiledWorkflow::compile(Arc::new(definition))
    }

    /// Runs the condition over `body`: its status, result and where the flow went.
    fn outcome(config: Value, body: Value) -> (ExecutionStatus, Value, &'static str) {
        let workflow = compiled(config);
        let Action::Condition(condition) = &workflow.nodes[0].action else { panic!("a condition") };
        let context = json!({"body": body});
        let (jobs, scopes) = (Map::new(), Map::new());
        let result = run("c", condition, &Variables { context: &context, jobs: &jobs, scopes: &scopes });
        let next = match result.next {
            Next::Continue => "continue",
            Next::Branch(b) if b.len() == 1 => "true-branch",
            Next::Branch(_) => "false-branch",
            Next::Stop { .. } => "stop",
            Next::Answer(_) => "answer",
        };
        (result.status, result.result, next)
    }

    fn basic(kind: &str, calculations: Value) -> Value {
        json!({"engine": "basic", "calculation": {"group": {"type": kind, "calculations": calculations}}})
    }

    fn eq(a: Value, b: Value) -> Value {
        json!({"calculator": "equal", "operands": [a, b]})
    }

    fn holds(config: Value, body: Value) -> bool {
        match outcome(config, body) {
            (ExecutionStatus::Resolved, Value::Bool(result), _) => result,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn groups_combine_as_every_and_some() {
        assert!(holds(basic("and", json!([eq(json!(1), json!(1)), eq(json!(1), json!(1))])), json!({})));
        assert!(!holds(basic("and", json!([eq(json!(1), json!(1)), eq(json!(0), json!(1))])), json!({})));
        assert!(holds(basic("or", json!([eq(json!(1), json!(1)), eq(json!(0), json!(1))])), json!({})));
        assert!(!holds(basic("and", json!([eq(json!(0), json!(1)), eq(json!(0), json!(1))])), json!({})));
        let nested = json!([eq(json!(1), json!(1)), {"group": {"type": "or", "calculations": [eq(json!(0), json!(1)), eq(json!(0), json!(1))]}}]);
        assert!(!holds(basic("and", nested), json!({})));
        assert!(holds(basic("and", json!([])), json!({})), "an empty and-group holds");
        assert!(!holds(basic("or", json!([])), json!({})), "an empty or-group does not");
    }

    #[test]
    fn a_decided_group_stops_evaluating() {
        let unknown = json!({"calculator": "roughly", "operands": [1, 2]});
        assert!(!holds(basic("and", json!([eq(json!(0), json!(1)), unknown.clone()])), json!({})));
        assert!(holds(basic("or", json!([eq(json!(1), json!(1)), unknown.clone()])), json!({})));
        let (status, result, next) =
            outcome(basic("and", json!([eq(json!(1), json!(1)), unknown])), json!({}));
        assert_eq!((status, next), (ExecutionStatus::Error, "stop"));
        assert!(result["error"].as_str().unwrap().contains("roughly"));
    }

    #[test]
    fn operands_compare_with_javascript_coercions() {
        // `read: 1` against the number 1; a missing title is undefined, which is not 0.
        assert!(holds(
            basic("and", json!([eq(json!(1), json!("{{$context.body.read}}"))])),
            json!({"read": 1})
        ));
        assert!(!holds(
            basic("and", json!([eq(json!(0), json!("{{$context.body.title}}"))])),
            json!({"title": null})
        ));
        assert!(holds(
            basic("and", json!([eq(json!(false), json!("{{$context.body.read}}"))])),
            json!({"read": 0})
        ));
        assert!(holds(
            basic("and", json!([eq(json!("1"), json!("{{$context.body.read}}"))])),
            json!({"read": 1})
        ));
        assert!(holds(
            basic("and", json!([eq(json!("{{$context.body.category.id}}"), json!(null))])),
            json!({})
        ));
    }

    #[test]
    fn branch_mode_and_reject_on_false() {
        let status = |expected: &str, reject: bool| {
            json!({"rejectOnFalse": reject, "calculation": {"group": {"type": "and", "calculations": [
                {"calculator": "==", "operands": ["{{$context.body.status}}", expected]}]}}})
        };
        let paid = json!({"status": "paid"});
        assert_eq!(
            outcome(status("paid", false), paid.clone()),
            (ExecutionStatus::Resolved, json!(true), "true-branch")
        );
        assert_eq!(
            outcome(status("open", false), paid.clone()),
            (ExecutionStatus::Resolved, json!(false), "false-branch")
        );
        assert_eq!(
            outcome(status("paid", true), paid.clone()),
            (ExecutionStatus::Resolved, json!(true), "continue")
        );
        assert_eq!(
            outcome(status("open", true), paid.clone()),
            (ExecutionStatus::Failed, json!(false), "stop")
        );
        let expression =
            json!({"engine": "expression", "expression": "{{$context.body.status}} == \"paid\""});
        assert_eq!(outcome(expression, paid), (ExecutionStatus::Resolved, json!(true), "true-branch"));
    }

    #[test]
    fn javascript_engines_branch_on_true_and_false_only() {
        let formula = |expression: &str, reject: bool| json!({"engine": "formula.js", "rejectOnFalse": reject, "expression": expression});
        let paid = json!({"status": "paid"});
        assert_eq!(
            outcome(formula("1 == 1", false), paid.clone()),
            (ExecutionStatus::Resolved, json!(true), "true-branch")
        );
        assert_eq!(
            outcome(formula("{{$context.body.status}} == 'open'", false), paid.clone()),
            (ExecutionStatus::Resolved, json!(false), "false-branch")
        );
        // NocoBase does not make the result a boolean: a truthy 1 takes neither branch.
        assert_eq!(
            outcome(formula("1", false), paid.clone()),
            (ExecutionStatus::Resolved, json!(1), "continue")
        );
        assert_eq!(outcome(formula("0", true), paid.clone()), (ExecutionStatus::Failed, json!(0), "stop"));
        assert_eq!(
            outcome(formula("'yes'", true), paid.clone()),
            (ExecutionStatus::Resolved, json!("yes"), "continue")
        );
        let math = |expression: &str| json!({"engine": "math.js", "expression": expression});
        assert_eq!(
            outcome(math("1 == 1"), paid.clone()),
            (ExecutionStatus::Resolved, json!(true), "true-branch")
        );
        assert_eq!(
            outcome(math("0 == 1"), paid.clone()),
            (ExecutionStatus::Resolved, json!(false), "false-branch")
        );
        assert_eq!(outcome(math("{{$context.body.missing}} == null"), paid.clone()).2, "true-branch");
        let broken = outcome(math("1 1"), paid);
        assert_eq!((broken.0, broken.2), (ExecutionStatus::Error, "stop"));
        assert!(broken.1["error"].as_str().is_some_and(|m| m.starts_with("SyntaxError")), "{}", broken.1);
    }
}
