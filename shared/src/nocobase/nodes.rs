//! What each NocoBase node type becomes in Hookflow: how it treats its branches (a
//! [`Plan`]), which Hookflow branch label a `branchIndex` is, and its config. Every other
//! type is refused by name, so adding one means adding it here and nowhere else.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::links::{Plan, RawNode};
use super::ImportProblem;
use crate::expression::is_truthy;
use crate::model::{CalculationConfig, ConditionConfig, EndConfig, Node, ResponseConfig};

/// NocoBase's condition: `branchIndex` 1 runs on true, 0 on false.
const CONDITION_TRUE: i64 = 1;
const CONDITION_FALSE: i64 = 0;

fn condition_index(index: i64) -> bool {
    index == CONDITION_TRUE || index == CONDITION_FALSE
}

fn any_index(_: i64) -> bool {
    true
}

fn non_negative(index: i64) -> bool {
    index >= 0
}

/// A condition with `rejectOnFalse` fails on false and, on true, runs its branch 1 before
/// going on downstream (`ConditionInstruction.run` looks the branch up before returning).
const REJECTING_CONDITION: &str =
    "branch 0 (false) of a condition with rejectOnFalse: a false result fails the execution, so NocoBase never runs it";

pub(super) fn plan(node: &RawNode) -> Plan {
    match node.kind.as_str() {
        // In line only where the result is a boolean: with math.js or formula.js, NocoBase runs
        // branch 1 only for exactly `true` and goes on without it for another truthy value, which
        // no sequence can say; such a condition keeps its branches and is refused by validation.
        "condition"
            if is_truthy(node.config.get("rejectOnFalse").unwrap_or(&Value::Null))
                && matches!(node.config.get("engine").and_then(Value::as_str), None | Some("basic")) =>
        {
            Plan::Inline { index: CONDITION_TRUE, accept: condition_index, never_runs: REJECTING_CONDITION }
        }
        "condition" => Plan::Branches { accept: condition_index, unique: true, single: false },
        // Not imported yet; their branches are still walked so that they are reported as left
        // out with their node instead of as unreachable.
        // Branch i runs for condition i, 0 is "otherwise" (MultiConditionsInstruction).
        "multi-conditions" => Plan::Branches { accept: non_negative, unique: true, single: false },
        // Every branch runs, in index order (ParallelInstruction, Processor.getBranches).
        "parallel" => Plan::Branches { accept: any_index, unique: false, single: false },
        // `const [branch] = processor.getBranches(node)` (LoopInstruction).
        "loop" => Plan::Branches { accept: any_index, unique: false, single: true },
        _ => Plan::NoBranches,
    }
}

/// The Hookflow label of a kept branch.
pub(super) fn label(kind: &str, index: i64) -> Option<&'static str> {
    match (kind, index) {
        ("condition", CONDITION_TRUE) => Some("true"),
        ("condition", CONDITION_FALSE) => Some("false"),
        _ => None,
    }
}

/// Puts `children` under `node` as its branch `label`.
pub(super) fn attach(node: &mut Node, label: &str, children: Vec<Node>) {
    if let Node::Condition { branches, .. } = node {
        match label {
            "true" => branches.on_true = children,
            "false" => branches.on_false = children,
            _ => {}
        }
    }
}

/// The Hookflow node for `raw`, without its branches.
pub(super) fn map(raw: &RawNode, warnings: &mut Vec<ImportProblem>) -> Result<Node, Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let key = match &raw.key {
        Some(Value::String(key)) if !key.is_empty() => key.clone(),
        _ => {
            problems.push(raw.problem("key", "every node needs a key (a string)"));
            String::new()
        }
    };
    let config = match &raw.config {
        Value::Object(config) => config.clone(),
        Value::Null => Map::new(),
        _ => {
            problems.push(raw.problem("config", "must be an object"));
            Map::new()
        }
    };
    let config = match raw.kind.as_str() {
        "condition" => condition(raw, config, &mut problems, warnings),
        "calculation" => calculation(raw, config, &mut problems, warnings),
        "end" => only(raw, config, &["endStatus"], warnings),
        "response" => only(raw, config, &["statusCode", "headers", "body"], warnings),
        "" => {
            problems.push(raw.problem("type", "every node needs a type"));
            Map::new()
        }
        other => {
            problems.push(raw.problem("type", format!("node type {other} is not supported")));
            Map::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let config = Value::Object(config);
    // Each config is decoded on its own first: through the tagged enum, serde would not say
    // which field is wrong.
    let mistake = match raw.kind.as_str() {
        "condition" => mistake::<ConditionConfig>(raw, &config),
        "calculation" => mistake::<CalculationConfig>(raw, &config),
        "end" => mistake::<EndConfig>(raw, &config),
        "response" => mistake::<ResponseConfig>(raw, &config),
        _ => None,
    };
    if let Some(problem) = mistake {
        return Err(vec![problem]);
    }
    let mut node = json!({ "type": raw.kind, "key": key, "config": config });
    if let Some(title) = &raw.title {
        node["title"] = json!(title);
    }
    serde_json::from_value(node).map_err(|e| vec![raw.problem("", e.to_string())])
}

/// The first field of `config` that does not decode as a `T`, if any.
fn mistake<T: DeserializeOwned>(raw: &RawNode, config: &Value) -> Option<ImportProblem> {
    let error = serde_path_to_error::deserialize::<_, T>(config).err()?;
    let field = match error.path().to_string().as_str() {
        "." => "config".to_owned(),
        inner => format!("config.{inner}"),
    };
    Some(raw.problem(&field, error.into_inner().to_string()))
}

/// Keeps the fields Hookflow reads; the rest NocoBase's editor may have left behind, and
/// NocoBase ignores unknown config keys as well.
fn only(
    raw: &RawNode,
    config: Map<String, Value>,
    known: &[&str],
    warnings: &mut Vec<ImportProblem>,
) -> Map<String, Value> {
    let mut kept = Map::new();
    for (name, value) in config {
        if known.contains(&name.as_str()) {
            kept.insert(name, value);
        } else {
            warnings.push(raw.problem(&format!("config.{name}"), "not used by Hookflow; left out"));
        }
    }
    kept
}

fn engine_name(raw: &RawNode, value: Option<&Value>, problems: &mut Vec<ImportProblem>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => {
            problems.push(raw.problem("config.engine", "must be a string"));
            None
        }
    }
}

fn condition(
    raw: &RawNode,
    config: Map<String, Value>,
    problems: &mut Vec<ImportProblem>,
    warnings: &mut Vec<ImportProblem>,
) -> Map<String, Value> {
    let mut config = only(raw, config, &["rejectOnFalse", "engine", "calculation", "expression"], warnings);
    // NocoBase tests `!result && rejectOnFalse`: any truthy value rejects.
    let reject = is_truthy(config.get("rejectOnFalse").unwrap_or(&Value::Null));
    config.insert("rejectOnFalse".into(), Value::Bool(reject));
    let engine = engine_name(raw, config.get("engine"), problems);
    let basic = match engine.as_deref() {
        // No registered evaluator by that name: NocoBase uses logicCalculate.
        None | Some("basic") => true,
        Some("math.js" | "formula.js" | "expression") => false,
        Some(other) => {
            problems.push(raw.problem(
                "config.engine",
                format!("the {other} engine is not supported in conditions (basic, math.js, formula.js)"),
            ));
            return config;
        }
    };
    config.insert("engine".into(), json!(engine.as_deref().unwrap_or("basic")));
    if matches!(config.get("expression"), Some(Value::Null)) {
        config.remove("expression");
    }
    let calculation = config.remove("calculation").unwrap_or(Value::Null);
    if basic {
        config.insert("calculation".into(), basic_calculation(calculation));
    } else if calculation.get("group").is_some() {
        // Left behind by the editor when the engine was switched; harmless, and kept so that
        // an export imports back unchanged.
        config.insert("calculation".into(), calculation);
    }
    config
}

/// `logicCalculate` takes a group, a single comparison, or nothing (always true). Hookflow
/// takes a group only: the others are wrapped so that they mean the same (an empty `and` is
/// true).
fn basic_calculation(calculation: Value) -> Value {
    let always_true = json!({ "group": { "type": "and", "calculations": [] } });
    match calculation {
        Value::Object(object) if object.contains_key("group") => Value::Object(object),
        Value::Object(object) if object.get("calculator").is_some_and(|c| !c.is_null()) => {
            json!({ "group": { "type": "and", "calculations": [object] } })
        }
        // `{}`, `null` or absent: `calculate({})` and `logicCalculate(undefined)` are true.
        Value::Object(_) | Value::Null => always_true,
        other => other,
    }
}

fn calculation(
    raw: &RawNode,
    config: Map<String, Value>,
    problems: &mut Vec<ImportProblem>,
    warnings: &mut Vec<ImportProblem>,
) -> Map<String, Value> {
    let mut config = only(raw, config, &["engine", "expression"], warnings);
    // `const { engine = 'math.js' } = node.config` in CalculationInstruction.
    match engine_name(raw, config.get("engine"), problems).as_deref() {
        None => {
            config.insert("engine".into(), json!("math.js"));
        }
        Some("math.js" | "formula.js" | "expression") => {}
        Some("string") => problems.push(raw.problem("config.engine", "the string engine is not supported")),
        Some(other) => {
            problems.push(raw.problem(
                "config.engine",
                format!("the {other} engine is not supported (math.js, formula.js)"),
            ))
        }
    }
    match config.get("expression") {
        Some(Value::String(text)) if !text.trim().is_empty() => {}
        Some(Value::String(_)) | Some(Value::Null) | None => problems.push(raw.problem(
            "config.expression",
            "is empty (NocoBase would give null); a calculation needs an expression",
        )),
        Some(_) => {}
    }
    config
}
