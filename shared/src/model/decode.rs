//! Turns user JSON into a [`WorkflowDefinition`], reporting every problem with its path instead
//! of stopping at the first: each node (and each branch) is decoded on its own, then the
//! whole definition is validated.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::node::{ConditionBranches, Node, NodeKind};
use super::validate::validate;
use super::workflow::WorkflowDefinition;

/// One reason a workflow cannot be saved: where (`nodes[0].config.statusCode`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Fields the admin API adds to a definition; accepted (and ignored) so a fetched workflow
/// can be sent back as it is.
const READ_ONLY_FIELDS: &[&str] = &["version", "webhookUrl", "createdAt", "updatedAt"];

/// Decodes and validates a definition.
pub fn decode_workflow(value: Value) -> Result<WorkflowDefinition, Vec<Problem>> {
    let Value::Object(mut object) = value else {
        return Err(vec![Problem::new("", "a workflow must be a JSON object")]);
    };
    for field in READ_ONLY_FIELDS {
        object.remove(*field);
    }
    let mut problems = Vec::new();
    let nodes = match object.remove("nodes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => decode_sequence(items, "nodes", &mut problems),
        Some(_) => {
            problems.push(Problem::new("nodes", "must be a list of nodes"));
            Vec::new()
        }
    };
    let shell = deserialize_at::<WorkflowDefinition>(Value::Object(object), "", &mut problems);
    let Some(mut definition) = shell else { return Err(problems) };
    if !problems.is_empty() {
        return Err(problems);
    }
    definition.nodes = nodes;
    let mut problems = validate(&definition);
    if problems.is_empty() {
        let depth = serde_json::to_value(&definition).map(|stored| json_depth(&stored)).unwrap_or(usize::MAX);
        if depth > MAX_STORED_DEPTH {
            problems.push(Problem::new(
                "nodes",
                format!(
                    "nested {depth} levels deep as stored; a workflow may nest at most {MAX_STORED_DEPTH}"
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(definition)
    } else {
        Err(problems)
    }
}

/// Deepest nesting of a definition as stored. Storage reads definitions back with serde_json,
/// which refuses more than 128 levels; one unreadable row would keep every process from
/// loading its catalog, so a definition is refused well before that.
pub const MAX_STORED_DEPTH: usize = 100;

/// Nesting depth of a JSON value (a scalar is 1), measured without recursion.
fn json_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(map) => pending.extend(map.values().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    deepest
}

fn decode_sequence(items: Vec<Value>, path: &str, problems: &mut Vec<Problem>) -> Vec<Node> {
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| decode_node(item, &format!("{path}[{i}]"), problems))
        .collect()
}

fn decode_node(value: Value, path: &str, problems: &mut Vec<Problem>) -> Option<Node> {
    let Value::Object(mut object) = value else {
        problems.push(Problem::new(path, "a node must be a JSON object"));
        return None;
    };
    let node_type = object.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let labels =
        NodeKind::from_name(&node_type).map(NodeKind::branch_labels).filter(|labels| !labels.is_empty());
    // Branches are decoded separately so that a problem deep in one branch does not hide the
    // problems of its siblings.
    let branches = match (labels, object.remove("branches")) {
        (_, None | Some(Value::Null)) => Map::new(),
        (None, Some(_)) => {
            problems.push(Problem::new(
                format!("{path}.branches"),
                format!("a {node_type:?} node has no branches"),
            ));
            Map::new()
        }
        (Some(_), Some(Value::Object(map))) => map,
        (Some(_), Some(_)) => {
            problems
                .push(Problem::new(format!("{path}.branches"), "must be an object of label → list of nodes"));
            Map::new()
        }
    };
    let mut decoded_branches = ConditionBranches::default();
    for (label, sequence) in branches {
        let at = format!("{path}.branches.{label}");
        let allowed = labels.unwrap_or_default();
        let Value::Array(items) = sequence else {
            problems.push(Problem::new(at, "must be a list of nodes"));
            continue;
        };
        let nodes = decode_sequence(items, &at, problems);
        match label.as_str() {
            "true" => decoded_branches.on_true = nodes,
            "false" => decoded_branches.on_false = nodes,
            _ => problems.push(Problem::new(
                at,
                format!("unknown branch {label:?}; a {node_type} node has branches {}", allowed.join(", ")),
            )),
        }
    }
    let header = deserialize_at::<NodeHeader>(Value::Object(object), path, problems)?;
    let config = match header.config {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    let config_path = format!("{path}.config");
    let (key, title) = (header.key, header.title);
    // Each config is decoded on its own (not through the tagged enum) so that a mistake is
    // reported at its field, e.g. `nodes[1].config.statusCode`.
    let Some(kind) = NodeKind::from_name(&header.kind) else {
        let known: Vec<&str> = NodeKind::ALL.iter().map(|kind| kind.name()).collect();
        problems.push(Problem::new(
            format!("{path}.type"),
            format!("unknown node type {:?}; expected one of {}", header.kind, known.join(", ")),
        ));
        return None;
    };
    Some(match kind {
        NodeKind::Condition => Node::Condition {
            key,
            title,
            config: deserialize_at(config, &config_path, problems)?,
            branches: decoded_branches,
        },
        NodeKind::Calculation => {
            Node::Calculation { key, title, config: deserialize_at(config, &config_path, problems)? }
        }
        NodeKind::Response => {
            Node::Response { key, title, config: deserialize_at(config, &config_path, problems)? }
        }
        NodeKind::End => Node::End { key, title, config: deserialize_at(config, &config_path, problems)? },
    })
}

/// The fields every node has, read before its type-specific config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeHeader {
    key: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    config: Value,
}

/// Deserializes `value`, turning a failure into a problem at `base` + the failing field.
fn deserialize_at<T: serde::de::DeserializeOwned>(
    value: Value,
    base: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(decoded) => Some(decoded),
        Err(error) => {
            let inner = error.path().to_string();
            let path = match (base.is_empty(), inner.as_str()) {
                (_, ".") => base.to_owned(),
                (true, inner) => inner.to_owned(),
                (false, inner) => format!("{base}.{inner}"),
            };
            problems.push(Problem::new(path, error.into_inner().to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sync_workflow(nodes: Value) -> Value {
        json!({"key": "pay-cb", "sync": true, "trigger": {"type": "webhook"}, "nodes": nodes})
    }

    fn paths(result: Result<WorkflowDefinition, Vec<Problem>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_definition_too_deep_to_read_back_is_refused() {
        // Conditions nested in conditions: each level adds three levels of JSON when stored.
        let mut nodes = json!([{"key": "leaf", "type": "end"}]);
        for level in 0..40 {
            nodes = json!([{"key": format!("c{level}"), "type": "condition",
                            "config": {"calculation": {"group": {"type": "and", "calculations": []}}},
                            "branches": {"true": nodes}}]);
        }
        let problems = decode_workflow(sync_workflow(nodes)).unwrap_err();
        assert!(problems.iter().any(|p| p.message.contains("levels deep")), "{problems:?}");
        let shallow = json!([{"key": "c", "type": "condition",
            "config": {"calculation": {"group": {"type": "and", "calculations": []}}},
            "branches": {"true": [{"key": "leaf", "type": "end"}]}}]);
        assert!(decode_workflow(sync_workflow(shallow)).is_ok());
    }

    #[test]
    fn decodes_the_spec_example() {
        let definition = decode_workflow(json!({
          "key": "payment-callback", "title": "Payment callback", "enabled": true, "sync": true,
          "options": { "timeout": 0 },
          "trigger": { "type": "webhook",
            "basicAuthentication": { "username": "psp", "password": "s3cret" },
            "request": { "headers": [ { "key": "x-request-id" } ], "query": [ { "key": "order.id", "alias": "Order" } ],
                         "body": [ { "key": "data.id", "alias": "Payment", "_var": "paymentId" } ] },
            "response": { "statusCode": 200, "headers": [ { "name": "X-Ack", "value": "1" } ], "body": "ok" },
            "signature": null, "idempotency": null, "allowedIps": [] },
          "nodes": [ { "key": "isPaid", "type": "condition",
              "config": { "rejectOnFalse": false, "engine": "basic",
                "calculation": { "group": { "type": "and", "calculations": [
                  { "calculator": "equal", "operands": [ "{{$context.body.status}}", "paid" ] } ] } } },
              "branches": {
                "true":  [ { "key": "ok", "type": "response", "config": { "statusCode": 200, "body": { "ok": true } } } ],
                "false": [ { "key": "bad", "type": "response", "config": { "statusCode": 400, "body": { "ok": false } } } ] } } ]
        }))
        .unwrap();
        assert_eq!(definition.nodes.len(), 1);
        let branches = definition.nodes[0].branches();
        assert_eq!(branches[0].1[0].key(), "ok");
        assert_eq!(branches[1].1[0].key(), "bad");
        let auth = definition.trigger.basic_authentication.as_ref().unwrap();
        assert_eq!(auth.username, "psp");
        assert_eq!(definition.trigger.request.body[0].var.as_deref(), Some("paymentId"));
        // Round trip: what the API returns decodes to the same definition.
        let again = decode_workflow(serde_json::to_value(&definition).unwrap()).unwrap();
        assert_eq!(again, definition);
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let problems = paths(decode_workflow(sync_workflow(json!([
            {"key": "a", "type": "teleport", "config": {}},
            {"key": "b", "type": "response", "config": {"statusCode": 200, "colour": "red"}},
            {"key": "c", "type": "condition", "config": {"calculation": {"group": {"type": "and", "calculations": []}}},
             "branches": {"true": [{"key": "d", "type": "response", "config": {"statusCode": "x"}}],
                          "maybe": []}}
        ]))));
        assert_eq!(
            problems,
            vec![
                "nodes[0].type",
                "nodes[1].config.colour",
                "nodes[2].branches.true[0].config.statusCode",
                "nodes[2].branches.maybe"
            ]
        );
    }

    #[test]
    fn read_only_fields_are_accepted() {
        let mut value = sync_workflow(json!([]));
        value["version"] = json!(3);
        value["webhookUrl"] = json!("http://x/api/webhook:trigger/pay-cb");
        assert!(decode_workflow(value).is_ok());
    }

    #[test]
    fn basic_authentication_false_or_credentials() {
        let mut value = sync_workflow(json!([]));
        value["trigger"]["basicAuthentication"] = json!(false);
        assert!(decode_workflow(value.clone()).unwrap().trigger.basic_authentication.is_none());
        value["trigger"]["basicAuthentication"] = json!(true);
        assert_eq!(paths(decode_workflow(value)), vec!["trigger.basicAuthentication"]);
    }

    #[test]
    fn non_objects_are_rejected() {
        assert_eq!(paths(decode_workflow(json!([1]))), vec![""]);
        assert_eq!(paths(decode_workflow(sync_workflow(json!({})))), vec!["nodes"]);
        assert_eq!(paths(decode_workflow(sync_workflow(json!([1])))), vec!["nodes[0]"]);
    }
}
