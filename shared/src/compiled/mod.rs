//! Workflow versions compiled once when they are loaded: node kinds as one enum, templates
//! scanned, expressions parsed, calculators resolved. Executions run this form; nothing in it
//! is parsed again per execution.

mod calculator;

use std::sync::Arc;

pub use calculator::Calculator;

use crate::engines::bind_placeholders;
use crate::engines::js::JsEngine;
use crate::expression;
use crate::model::{
    CalculationEngine, CalculationItem, ConditionConfig, ConditionEngine, ExecutionStatus, FieldMapping,
    GroupBody, GroupType, Header, Node, NodeKind, RequestParsing, ResponseConfig, WorkflowDefinition,
};
use crate::path::Path;
use crate::template::{Template, TextTemplate, VariablePath};

/// A workflow version ready to run.
#[derive(Debug)]
pub struct CompiledWorkflow {
    pub definition: Arc<WorkflowDefinition>,
    pub nodes: Vec<CompiledNode>,
    /// The async answer (`trigger.response`).
    pub async_response: Answer,
    /// `trigger.request`'s `_var` mappings, their paths parsed.
    pub mappings: Mappings,
}

impl CompiledWorkflow {
    pub fn compile(definition: Arc<WorkflowDefinition>) -> Self {
        let nodes = compile_sequence(&definition.nodes);
        let response = &definition.trigger.response;
        let async_response = compile_answer(response.status_code, &response.headers, &response.body);
        let mappings = Mappings::compile(&definition.trigger.request);
        Self { definition, nodes, async_response, mappings }
    }
}

/// The `_var`s of each request part: the value at `path` is copied to `var` beside it.
#[derive(Debug, Default)]
pub struct Mappings {
    pub headers: Vec<Mapping>,
    pub query: Vec<Mapping>,
    pub body: Vec<Mapping>,
}

impl Mappings {
    pub fn compile(request: &RequestParsing) -> Self {
        Self {
            headers: compile_mappings(&request.headers, true),
            query: compile_mappings(&request.query, false),
            body: compile_mappings(&request.body, false),
        }
    }
}

#[derive(Debug)]
pub struct Mapping {
    pub path: Path,
    pub var: String,
}

/// Header names are matched lower-cased, as the headers are stored.
fn compile_mappings(mappings: &[FieldMapping], lowercase: bool) -> Vec<Mapping> {
    mappings
        .iter()
        .filter_map(|mapping| {
            let var = mapping.var.clone()?;
            let key = if lowercase { mapping.key.to_ascii_lowercase() } else { mapping.key.clone() };
            Some(Mapping { path: Path::parse(&key), var })
        })
        .collect()
}

/// One node: its key, its kind (for records and metrics) and what it does.
#[derive(Debug)]
pub struct CompiledNode {
    pub key: String,
    pub kind: NodeKind,
    pub action: Action,
}

#[derive(Debug)]
pub enum Action {
    Condition(Condition),
    Calculation(Evaluation),
    Response(Answer),
    End(ExecutionStatus),
}

/// A condition node.
#[derive(Debug)]
pub struct Condition {
    pub reject_on_false: bool,
    pub test: Test,
    pub on_true: Vec<CompiledNode>,
    pub on_false: Vec<CompiledNode>,
}

/// What a condition tests: the basic engine's calculations, or an expression.
#[derive(Debug)]
pub enum Test {
    Basic(Group),
    Expression(Evaluation),
}

/// An `and` / `or` group.
#[derive(Debug)]
pub struct Group {
    pub kind: GroupType,
    pub items: Vec<Item>,
}

#[derive(Debug)]
pub enum Item {
    Compare {
        calculator: Calculator,
        operands: Vec<Template>,
    },
    Group(Group),
    /// No calculator or no operands: true, as in NocoBase.
    Always,
    /// Refused when saved; an error when reached if it was stored anyway.
    Invalid(&'static str),
}

/// An expression of the `expression`, `math.js` or `formula.js` engine.
#[derive(Debug)]
pub enum Evaluation {
    /// Hookflow's own engine (evalexpr), parsed.
    Native(expression::Compiled),
    /// NocoBase's engines: the source with `$$n` variables and the paths bound to them. The
    /// runtime compiles each source once and keeps it.
    Script { engine: JsEngine, source: String, bindings: Vec<Binding> },
    /// It did not parse (saving checks this, so only a stored definition gets here): the job
    /// ends in `error` with this message.
    Invalid(String),
}

/// A variable of a `math.js` / `formula.js` expression (`$$0`, …) and the path bound to it.
#[derive(Debug)]
pub struct Binding {
    pub name: String,
    pub path: VariablePath,
}

/// An answer to render: a Response node's, or the async answer of the trigger.
#[derive(Debug)]
pub struct Answer {
    pub status_code: u16,
    pub headers: Vec<(String, TextTemplate)>,
    pub body: Template,
}

fn compile_sequence(nodes: &[Node]) -> Vec<CompiledNode> {
    nodes.iter().map(compile_node).collect()
}

fn compile_node(node: &Node) -> CompiledNode {
    let action = match node {
        Node::Condition { config, branches, .. } => Action::Condition(Condition {
            reject_on_false: config.reject_on_false,
            test: compile_test(config),
            on_true: compile_sequence(&branches.on_true),
            on_false: compile_sequence(&branches.on_false),
        }),
        Node::Calculation { config, .. } => {
            let engine = match config.engine {
                CalculationEngine::Expression => None,
                CalculationEngine::MathJs => Some(JsEngine::MathJs),
                CalculationEngine::FormulaJs => Some(JsEngine::FormulaJs),
            };
            Action::Calculation(compile_evaluation(engine, Some(&config.expression)))
        }
        Node::Response { config, .. } => {
            let ResponseConfig { status_code, headers, body } = config;
            Action::Response(compile_answer(*status_code, headers, body))
        }
        Node::End { config, .. } => Action::End(config.end_status),
    };
    CompiledNode { key: node.key().to_owned(), kind: node.kind(), action }
}

fn compile_test(config: &ConditionConfig) -> Test {
    let engine = match config.engine {
        ConditionEngine::Basic => {
            return Test::Basic(match &config.calculation {
                Some(calculation) => compile_group(&calculation.group),
                // NocoBase: no calculation is always true.
                None => Group { kind: GroupType::And, items: Vec::new() },
            });
        }
        ConditionEngine::Expression => None,
        ConditionEngine::MathJs => Some(JsEngine::MathJs),
        ConditionEngine::FormulaJs => Some(JsEngine::FormulaJs),
    };
    Test::Expression(compile_evaluation(engine, config.expression.as_deref()))
}

fn compile_group(group: &GroupBody) -> Group {
    Group { kind: group.kind, items: group.calculations.iter().map(compile_item).collect() }
}

fn compile_item(item: &CalculationItem) -> Item {
    match (&item.group, &item.calculator, &item.operands) {
        (Some(nested), None, None) => Item::Group(compile_group(nested)),
        (None, Some(calculator), Some(operands)) if !operands.is_empty() => Item::Compare {
            calculator: Calculator::from_name(calculator),
            operands: operands.iter().map(Template::compile).collect(),
        },
        (None, _, _) => Item::Always,
        _ => Item::Invalid("a calculation is either {calculator, operands} or {group}"),
    }
}

/// `engine` `None` is Hookflow's own expression engine.
fn compile_evaluation(engine: Option<JsEngine>, expression: Option<&str>) -> Evaluation {
    let Some(text) = expression.filter(|text| !text.trim().is_empty()) else {
        return Evaluation::Invalid("the engine needs an expression".into());
    };
    match engine {
        None => match expression::compile(text) {
            Ok(compiled) => Evaluation::Native(compiled),
            Err(message) => Evaluation::Invalid(message),
        },
        Some(engine) => {
            let bound = bind_placeholders(text);
            let bindings = bound
                .paths
                .iter()
                .enumerate()
                .map(|(index, path)| Binding { name: format!("$${index}"), path: VariablePath::parse(path) })
                .collect();
            Evaluation::Script { engine, source: bound.source, bindings }
        }
    }
}

fn compile_answer(status_code: u16, headers: &[Header], body: &serde_json::Value) -> Answer {
    Answer {
        status_code,
        headers: headers.iter().map(|h| (h.name.clone(), TextTemplate::compile(&h.value))).collect(),
        body: Template::compile(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decode_workflow;
    use serde_json::json;

    #[test]
    fn a_definition_compiles_to_its_tree() {
        let definition = decode_workflow(json!({"key": "wf-1", "sync": true, "trigger": {"type": "webhook"}, "nodes": [
            {"key": "c", "type": "condition", "config": {"calculation": {"group": {"type": "and", "calculations": [
                {"calculator": "==", "operands": ["{{$context.body.a}}", 1]}, {"calculator": "nope", "operands": [1, 2]}]}}},
             "branches": {"true": [{"key": "r", "type": "response", "config": {"body": "{{$context.body}}"}}],
                          "false": [{"key": "m", "type": "calculation", "config": {"engine": "math.js", "expression": "{{$context.body.a}} / 2"}}]}},
            {"key": "e", "type": "end", "config": {"endStatus": -1}}
        ]}))
        .unwrap();
        let compiled = CompiledWorkflow::compile(Arc::new(definition));
        assert_eq!(compiled.nodes.len(), 2);
        let Action::Condition(condition) = &compiled.nodes[0].action else { panic!("a condition") };
        let Test::Basic(group) = &condition.test else { panic!("basic") };
        assert!(
            matches!(&group.items[0], Item::Compare { calculator: Calculator::Equal, operands } if operands.len() == 2)
        );
        assert!(
            matches!(&group.items[1], Item::Compare { calculator: Calculator::Unknown(name), .. } if name == "nope")
        );
        assert!(
            matches!(&condition.on_true[0].action, Action::Response(answer) if matches!(answer.body, Template::Whole(_)))
        );
        assert!(matches!(&condition.on_false[0].action,
            Action::Calculation(Evaluation::Script { engine: JsEngine::MathJs, source, bindings }) if source == "$$0 / 2" && bindings[0].name == "$$0"));
        assert!(matches!(compiled.nodes[1].action, Action::End(ExecutionStatus::Failed)));
        assert_eq!(compiled.nodes[1].kind, NodeKind::End);
    }
}
