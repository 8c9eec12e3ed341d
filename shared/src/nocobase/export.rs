//! A Hookflow definition in NocoBase's shape: the answer of `workflows:get?appends[]=nodes`,
//! nodes linked exactly as NocoBase stores them, so that [`super::import`] (or a NocoBase
//! consumer of that answer) reads it back. Hookflow's own settings (signature, idempotency,
//! allowed IPs, `rawBody`, the `expression` engine) are written under their names: NocoBase
//! ignores config keys it does not know.

use serde_json::{json, Map, Value};

use crate::model::{ExecutionStatus, Node, WorkflowDefinition};

/// Writes `definition` as `{"data": {...}}` with node ids 1..n in the order of a walk that
/// visits a node, then its branches, then the rest of its sequence.
pub fn export(definition: &WorkflowDefinition) -> Value {
    let mut nodes = Vec::new();
    export_sequence(&definition.nodes, None, &mut nodes);
    json!({ "data": {
        "key": definition.key,
        "title": definition.title,
        "enabled": definition.enabled,
        "type": "webhook",
        "sync": definition.sync,
        "config": trigger_config(definition),
        "options": { "timeout": definition.options.timeout },
        "nodes": nodes,
    } })
}

fn trigger_config(definition: &WorkflowDefinition) -> Value {
    let mut config = match serde_json::to_value(&definition.trigger) {
        Ok(Value::Object(config)) => config,
        _ => Map::new(),
    };
    // Unset extensions are left out, so that a plain webhook looks like NocoBase's own.
    // (`retain`, not `remove`: removing would reorder the fields.)
    config.retain(|name, value| match name.as_str() {
        "type" => false,
        "signature" | "idempotency" => !value.is_null(),
        "allowedIps" => !value.as_array().is_some_and(Vec::is_empty),
        _ => true,
    });
    Value::Object(config)
}

/// NocoBase's `branchIndex` of a Hookflow branch label.
fn branch_index(node: &Node, label: &str) -> i64 {
    match (node, label) {
        (Node::Condition { .. }, "false") => 0,
        _ => 1,
    }
}

/// Appends `sequence` to `out`; its first node starts branch `first` = (upstream id, index)
/// when it is a branch. Recursion follows the definition's nesting, which decoding bounded.
fn export_sequence(sequence: &[Node], first: Option<(u64, i64)>, out: &mut Vec<Value>) {
    let mut previous: Option<usize> = None;
    for (i, node) in sequence.iter().enumerate() {
        let id = out.len() as u64 + 1;
        let (upstream, branch) = match (i, first, previous) {
            (0, Some((upstream, index)), _) => (Some(upstream), Some(index)),
            (_, _, Some(previous)) => (out[previous]["id"].as_u64(), None),
            _ => (None, None),
        };
        if let Some(previous) = previous {
            out[previous]["downstreamId"] = json!(id);
        }
        let position = out.len();
        let (title, config) = title_and_config(node);
        out.push(json!({
            "id": id,
            "key": node.key(),
            "title": title,
            "type": node.type_name(),
            "upstreamId": upstream,
            "branchIndex": branch,
            "downstreamId": null,
            "config": config,
        }));
        for (label, children) in node.branches() {
            if !children.is_empty() {
                export_sequence(children, Some((id, branch_index(node, label))), out);
            }
        }
        previous = Some(position);
    }
}

/// Read through serde rather than by variant, so that node kinds added later export too.
fn title_and_config(node: &Node) -> (Value, Value) {
    let mut value = serde_json::to_value(node).unwrap_or(Value::Null);
    let title = value.get_mut("title").map(Value::take).unwrap_or(Value::Null);
    let mut config = value.get_mut("config").map(Value::take).unwrap_or_else(|| json!({}));
    if let Node::End { config: end, .. } = node {
        // NocoBase stores job statuses as numbers.
        config["endStatus"] = status_code(end.end_status);
    }
    (title, config)
}

fn status_code(status: ExecutionStatus) -> Value {
    match status {
        ExecutionStatus::Queued => Value::Null,
        ExecutionStatus::Started => json!(0),
        ExecutionStatus::Resolved => json!(1),
        ExecutionStatus::Failed => json!(-1),
        ExecutionStatus::Error => json!(-2),
        ExecutionStatus::Aborted => json!(-3),
        ExecutionStatus::Canceled => json!(-4),
    }
}
