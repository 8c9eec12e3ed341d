//! Semantic checks of a decoded definition (SPEC §3 "Saving validates everything"): every
//! problem is collected with its path.

use std::collections::HashSet;

use super::decode::Problem;
use super::node::{CalculationEngine, CalculationItem, ConditionEngine, GroupBody, Node};
use super::status::ExecutionStatus;
use super::workflow::{FieldMapping, Header, WorkflowDefinition};
use crate::{expression, template};

/// `[a-z0-9][a-z0-9_-]{2,63}`.
pub fn is_valid_workflow_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    (3..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// Node keys: letters, digits, `_` and `-`, up to 64; they appear in template paths.
fn is_valid_node_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An HTTP token (RFC 9110 `tchar`s).
pub fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Header values may not contain CR, LF or other control characters but tab.
pub fn is_valid_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn valid_status(code: u16) -> bool {
    (200..=599).contains(&code)
}

pub(super) fn validate(definition: &WorkflowDefinition) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !definition.key.is_empty() && !is_valid_workflow_key(&definition.key) {
        problems.push(Problem::new("key", "must match [a-z0-9][a-z0-9_-]{2,63}"));
    }
    let trigger = &definition.trigger;
    for (part, mappings) in [
        ("headers", &trigger.request.headers),
        ("query", &trigger.request.query),
        ("body", &trigger.request.body),
    ] {
        check_mappings(mappings, &format!("trigger.request.{part}"), &mut problems);
    }
    if !valid_status(trigger.response.status_code) {
        problems.push(Problem::new("trigger.response.statusCode", "must be between 200 and 599"));
    }
    // Templates over the call ($context, $system, $env), rendered when the call is answered.
    check_headers(&trigger.response.headers, "trigger.response.headers", true, &mut problems);
    check_json_templates(&trigger.response.body, "trigger.response.body", &mut problems);
    if let Some(auth) = &trigger.basic_authentication {
        // Empty credentials would let anyone in who sends an empty (or blank) pair.
        if auth.username.trim().is_empty() {
            problems.push(Problem::new("trigger.basicAuthentication.username", "must not be empty"));
        } else if auth.username.contains(':') {
            // The first ':' of Basic credentials ends the user name: no caller could match.
            problems.push(Problem::new("trigger.basicAuthentication.username", "must not contain ':'"));
        }
        if auth.password.trim().is_empty() {
            problems.push(Problem::new("trigger.basicAuthentication.password", "must not be empty"));
        }
    }
    // These are part of the contract but not enforced by this version; accepting them silently
    // would leave a webhook open that its owner believes is protected.
    if let Some(signature) = &trigger.signature {
        problems.extend(crate::signature::Verifier::check(signature));
    }
    if let Some(idempotency) = &trigger.idempotency {
        let preset = trigger.signature.as_ref().map(|s| s.preset);
        if let Err(found) = crate::idempotency::IdempotencyRule::compile(idempotency, preset) {
            problems.extend(found);
        }
    }
    if let Err(found) = crate::client_ip::parse_allow_list(&trigger.allowed_ips) {
        problems.extend(found);
    }
    let mut seen = HashSet::new();
    check_sequence(&definition.nodes, "nodes", definition.sync, &mut seen, &mut problems);
    problems
}

fn check_mappings(mappings: &[FieldMapping], path: &str, problems: &mut Vec<Problem>) {
    for (i, mapping) in mappings.iter().enumerate() {
        if mapping.key.trim().is_empty() {
            problems.push(Problem::new(format!("{path}[{i}].key"), "must not be empty"));
        }
        if mapping.var.as_deref().is_some_and(|v| v.trim().is_empty()) {
            problems.push(Problem::new(format!("{path}[{i}]._var"), "must not be empty"));
        }
    }
}

fn check_headers(headers: &[Header], path: &str, templated: bool, problems: &mut Vec<Problem>) {
    for (i, header) in headers.iter().enumerate() {
        if !is_valid_header_name(&header.name) {
            problems.push(Problem::new(
                format!("{path}[{i}].name"),
                format!("not a valid header name: {:?}", header.name),
            ));
        }
        if !is_valid_header_value(&header.value) {
            problems.push(Problem::new(
                format!("{path}[{i}].value"),
                "header values may not contain CR, LF or control characters",
            ));
        }
        if templated {
            check_template(&header.value, &format!("{path}[{i}].value"), problems);
        }
    }
}

fn check_template(text: &str, path: &str, problems: &mut Vec<Problem>) {
    if let Err(e) = template::check(text) {
        problems.push(Problem::new(path, e.to_string()));
    }
}

fn check_json_templates(value: &serde_json::Value, path: &str, problems: &mut Vec<Problem>) {
    for (suffix, error) in template::check_value(value) {
        problems.push(Problem::new(format!("{path}{suffix}"), error.to_string()));
    }
}

fn check_expression(text: &str, path: &str, problems: &mut Vec<Problem>) {
    if text.trim().is_empty() {
        problems.push(Problem::new(path, "must not be empty"));
    } else if let Err(e) = expression::check(text) {
        problems.push(Problem::new(path, e));
    }
}

fn check_sequence(
    nodes: &[Node],
    path: &str,
    sync: bool,
    seen: &mut HashSet<String>,
    problems: &mut Vec<Problem>,
) {
    for (i, node) in nodes.iter().enumerate() {
        let at = format!("{path}[{i}]");
        check_node(node, &at, sync, seen, problems);
        for (label, branch) in node.branches() {
            check_sequence(branch, &format!("{at}.branches.{label}"), sync, seen, problems);
        }
    }
}

fn check_node(node: &Node, at: &str, sync: bool, seen: &mut HashSet<String>, problems: &mut Vec<Problem>) {
    let key = node.key();
    if !is_valid_node_key(key) {
        problems.push(Problem::new(format!("{at}.key"), "must be 1-64 letters, digits, '_' or '-'"));
    } else if !seen.insert(key.to_owned()) {
        problems.push(Problem::new(format!("{at}.key"), format!("duplicate node key {key:?}")));
    }
    match node {
        Node::Condition { config, branches, .. } => {
            let cfg = format!("{at}.config");
            if config.reject_on_false && !branches.is_empty() {
                problems.push(Problem::new(
                    format!("{at}.branches"),
                    "a condition with rejectOnFalse has no branches: a true result continues, a false one fails",
                ));
            }
            match config.engine {
                ConditionEngine::Basic => match &config.calculation {
                    Some(group) => check_group(&group.group, &format!("{cfg}.calculation.group"), problems),
                    None => problems
                        .push(Problem::new(format!("{cfg}.calculation"), "required by the basic engine")),
                },
                ConditionEngine::Expression => match &config.expression {
                    Some(text) => check_expression(text, &format!("{cfg}.expression"), problems),
                    None => problems
                        .push(Problem::new(format!("{cfg}.expression"), "required by the expression engine")),
                },
                // Checked when they run, as NocoBase does: a mistake ends the job in `error`.
                ConditionEngine::MathJs | ConditionEngine::FormulaJs => match config.expression.as_deref() {
                    Some(text) if !text.trim().is_empty() => {
                        check_script_length(text, &format!("{cfg}.expression"), problems)
                    }
                    _ => problems.push(Problem::new(format!("{cfg}.expression"), "required by this engine")),
                },
            }
        }
        Node::Calculation { config, .. } => match config.engine {
            CalculationEngine::Expression => {
                check_expression(&config.expression, &format!("{at}.config.expression"), problems);
            }
            CalculationEngine::MathJs | CalculationEngine::FormulaJs => {
                if config.expression.trim().is_empty() {
                    problems.push(Problem::new(format!("{at}.config.expression"), "must not be empty"));
                }
                check_script_length(&config.expression, &format!("{at}.config.expression"), problems);
            }
        },
        Node::Response { config, .. } => {
            if !sync {
                problems.push(Problem::new(
                    at,
                    "a Response node needs a sync workflow; async workflows answer with trigger.response",
                ));
            }
            if !valid_status(config.status_code) {
                problems.push(Problem::new(format!("{at}.config.statusCode"), "must be between 200 and 599"));
            }
            check_headers(&config.headers, &format!("{at}.config.headers"), true, problems);
            check_json_templates(&config.body, &format!("{at}.config.body"), problems);
        }
        Node::End { config, .. } => {
            if !matches!(config.end_status, ExecutionStatus::Resolved | ExecutionStatus::Failed) {
                problems.push(Problem::new(
                    format!("{at}.config.endStatus"),
                    "must be resolved (1) or failed (-1)",
                ));
            }
        }
    }
}

fn check_group(group: &GroupBody, path: &str, problems: &mut Vec<Problem>) {
    for (i, item) in group.calculations.iter().enumerate() {
        let at = format!("{path}.calculations[{i}]");
        match item {
            CalculationItem { group: Some(nested), calculator: None, operands: None } => {
                check_group(nested, &format!("{at}.group"), problems);
            }
            CalculationItem { group: None, calculator: Some(calculator), operands: Some(operands) } => {
                if calculator.trim().is_empty() {
                    problems.push(Problem::new(format!("{at}.calculator"), "must not be empty"));
                }
                if operands.len() != 2 {
                    problems.push(Problem::new(
                        format!("{at}.operands"),
                        "a comparison takes exactly two operands",
                    ));
                }
                check_json_templates(
                    &serde_json::Value::Array(operands.clone()),
                    &format!("{at}.operands"),
                    problems,
                );
            }
            _ => problems.push(Problem::new(at, "must be either {calculator, operands} or {group}")),
        }
    }
}

/// Longest `math.js` / `formula.js` expression accepted: the rest is checked when it runs.
pub const MAX_SCRIPT_EXPRESSION_BYTES: usize = 64 * 1024;

fn check_script_length(text: &str, at: &str, problems: &mut Vec<Problem>) {
    if text.len() > MAX_SCRIPT_EXPRESSION_BYTES {
        problems.push(Problem::new(at, format!("longer than {MAX_SCRIPT_EXPRESSION_BYTES} bytes")));
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::decode_workflow;
    use serde_json::{json, Value};

    fn problems_of(workflow: Value) -> Vec<(String, String)> {
        decode_workflow(workflow).unwrap_err().into_iter().map(|p| (p.path, p.message)).collect()
    }

    fn workflow(sync: bool, nodes: Value) -> Value {
        json!({"key": "k-1", "sync": sync, "trigger": {"type": "webhook"}, "nodes": nodes})
    }

    fn only_path(workflow: Value) -> String {
        let problems = problems_of(workflow);
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems[0].0.clone()
    }

    #[test]
    fn duplicate_node_keys_across_branches() {
        let path = only_path(workflow(
            true,
            json!([
                {"key": "c", "type": "condition", "config": {"engine": "expression", "expression": "true"},
                 "branches": {"true": [{"key": "x", "type": "end"}], "false": [{"key": "x", "type": "end"}]}}
            ]),
        ));
        assert_eq!(path, "nodes[0].branches.false[0].key");
    }

    #[test]
    fn response_node_in_async_workflow() {
        let path = only_path(workflow(false, json!([{"key": "r", "type": "response", "config": {}}])));
        assert_eq!(path, "nodes[0]");
    }

    #[test]
    fn bad_status_codes() {
        assert_eq!(
            only_path(workflow(
                true,
                json!([{"key": "r", "type": "response", "config": {"statusCode": 99}}])
            )),
            "nodes[0].config.statusCode"
        );
        let mut async_workflow = workflow(false, json!([]));
        async_workflow["trigger"]["response"] = json!({"statusCode": 600});
        assert_eq!(only_path(async_workflow), "trigger.response.statusCode");
    }

    #[test]
    fn bad_header_names_and_values() {
        let problems = problems_of(workflow(
            true,
            json!([{"key": "r", "type": "response",
            "config": {"headers": [{"name": "Bad Header", "value": "1"}, {"name": "X-Ok", "value": "a\r\nb"}]}}]),
        ));
        let paths: Vec<_> = problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(paths, vec!["nodes[0].config.headers[0].name", "nodes[0].config.headers[1].value"]);
    }

    #[test]
    fn unparsable_templates_and_expressions() {
        let problems = problems_of(workflow(
            true,
            json!([
                {"key": "r", "type": "response", "config": {"body": {"a": "{{$context.body"}}},
                {"key": "c", "type": "calculation", "config": {"expression": "1 + * 2"}},
                {"key": "d", "type": "condition", "config": {"calculation": {"group": {"type": "or", "calculations": [
                    {"calculator": "equal", "operands": ["{{oops}}", 1]}, {"calculator": "gt", "operands": [1]}]}}}}
            ]),
        ));
        let paths: Vec<_> = problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "nodes[0].config.body.a",
                "nodes[1].config.expression",
                "nodes[2].config.calculation.group.calculations[0].operands[0]",
                "nodes[2].config.calculation.group.calculations[1].operands",
            ]
        );
    }

    #[test]
    fn unknown_fields_and_node_types() {
        let problems =
            problems_of(json!({"key": "k-1", "trigger": {"type": "webhook", "colour": 1}, "nodes": [
            {"key": "a", "type": "warp", "config": {}}]}));
        let paths: Vec<_> = problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(paths, vec!["nodes[0].type", "trigger.colour"]);
        assert!(problems[0].1.contains("warp"), "{}", problems[0].1);
    }

    #[test]
    fn workflow_key_format() {
        let mut value = workflow(true, json!([]));
        value["key"] = json!("Bad Key");
        assert_eq!(only_path(value), "key");
    }

    #[test]
    fn unsupported_trigger_features_are_refused() {
        let mut value = workflow(false, json!([]));
        value["trigger"]["idempotency"] = json!(true);
        value["trigger"]["allowedIps"] = json!(["10.0.0.1", "10.0.0.0/40"]);
        let paths: Vec<_> = problems_of(value).into_iter().map(|p| p.0).collect();
        assert_eq!(paths, vec!["trigger.idempotency", "trigger.allowedIps[1]"], "true needs a preset");
    }

    #[test]
    fn signature_settings_are_checked() {
        let mut value = workflow(false, json!([]));
        value["trigger"]["signature"] = json!({"preset": "github", "secrets": []});
        assert_eq!(only_path(value.clone()), "trigger.signature.secrets");
        value["trigger"]["signature"] = json!({"secret": "x"});
        assert_eq!(only_path(value.clone()), "trigger.signature.secret");
        value["trigger"]["signature"] = json!({"preset": "github", "secrets": ["s3cret"]});
        assert!(decode_workflow(value).is_ok());
    }

    #[test]
    fn basic_authentication_needs_both_credentials() {
        for (username, password, expected) in [
            ("", "s3cret", vec!["trigger.basicAuthentication.username"]),
            ("psp", "", vec!["trigger.basicAuthentication.password"]),
            (
                " \t",
                "  ",
                vec!["trigger.basicAuthentication.username", "trigger.basicAuthentication.password"],
            ),
            ("p:sp", "s3cret", vec!["trigger.basicAuthentication.username"]),
        ] {
            let mut value = workflow(false, json!([]));
            value["trigger"]["basicAuthentication"] = json!({"username": username, "password": password});
            let paths: Vec<_> = problems_of(value).into_iter().map(|p| p.0).collect();
            assert_eq!(paths, expected, "{username:?} / {password:?}");
        }
        let mut value = workflow(false, json!([]));
        value["trigger"]["basicAuthentication"] = json!({"username": "psp", "password": "s3cret"});
        assert!(super::super::decode::decode_workflow(value).is_ok());
    }

    #[test]
    fn end_status_and_condition_shape() {
        let problems = problems_of(workflow(
            true,
            json!([
                {"key": "e", "type": "end", "config": {"endStatus": -3}},
                {"key": "c", "type": "condition", "config": {"rejectOnFalse": true, "engine": "expression", "expression": "true"},
                 "branches": {"true": [{"key": "z", "type": "end"}]}},
                {"key": "b", "type": "condition", "config": {"engine": "basic"}}
            ]),
        ));
        let paths: Vec<_> = problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            paths,
            vec!["nodes[0].config.endStatus", "nodes[1].branches", "nodes[2].config.calculation"]
        );
    }
}
