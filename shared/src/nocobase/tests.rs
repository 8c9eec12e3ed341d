//! The NocoBase import and export against hand-written NocoBase records: the linking model,
//! every problem, the rejectOnFalse rewrite, round trips, and hostile lists.

use serde_json::{json, Value};

use super::{export, import, import_lenient, ImportProblem, Imported, MAX_BRANCH_DEPTH};
use crate::model::{decode_workflow, Node, WorkflowDefinition};

/// A NocoBase node as the API answers it, bookkeeping included.
fn node(id: Value, kind: &str, upstream: Value, branch: Value, downstream: Value, config: Value) -> Value {
    let key = format!("k{}", id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string()));
    json!({
        "id": id, "key": key, "title": format!("Node {key}"), "type": kind,
        "upstreamId": upstream, "branchIndex": branch, "downstreamId": downstream,
        "config": config, "workflowId": 7,
        "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z"
    })
}

fn calc(id: i64, upstream: Value, branch: Value, downstream: Value) -> Value {
    node(
        json!(id),
        "calculation",
        upstream,
        branch,
        downstream,
        json!({"engine": "math.js", "expression": "1 + 1"}),
    )
}

fn cond(id: i64, upstream: Value, branch: Value, downstream: Value) -> Value {
    node(
        json!(id),
        "condition",
        upstream,
        branch,
        downstream,
        json!({"rejectOnFalse": false, "engine": "basic", "calculation": {"group": {"type": "and", "calculations": [
            {"calculator": "equal", "operands": ["{{$context.body.a}}", 1]}]}}}),
    )
}

fn record(sync: bool, nodes: Vec<Value>) -> Value {
    json!({ "data": {
        "id": 7, "key": "abc123def45", "title": "Imported", "enabled": true, "description": null,
        "type": "webhook", "triggerTitle": null, "sync": sync, "invalid": false, "executed": 3,
        "allExecuted": 3, "current": true, "categories": [],
        "config": {"basicAuthentication": false, "request": {"headers": [], "query": [], "body": []}},
        "options": {"timeout": 0, "stackLimit": 1, "deleteExecutionOnStatus": []},
        "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z",
        "createdById": 1, "updatedById": 1, "nodes": nodes
    } })
}

fn ok(value: &Value) -> Imported {
    import(value).unwrap_or_else(|problems| panic!("import failed: {problems:#?}"))
}

fn problems(value: &Value) -> Vec<ImportProblem> {
    match import(value) {
        Ok(imported) => panic!("import succeeded: {:#?}", imported.definition),
        Err(problems) => problems,
    }
}

/// The node keys of a sequence, branches in brackets: `c1[true: k2 k3; false: k4] k5`.
fn shape(nodes: &[Node]) -> String {
    let mut out = Vec::new();
    for node in nodes {
        let branches: Vec<String> = node
            .branches()
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(label, list)| format!("{label}: {}", shape(list)))
            .collect();
        if branches.is_empty() {
            out.push(node.key().to_owned());
        } else {
            out.push(format!("{}[{}]", node.key(), branches.join("; ")));
        }
    }
    out.join(" ")
}

fn paths(problems: &[ImportProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn main_chain_listed_out_of_order() {
    let imported = ok(&record(
        false,
        vec![
            calc(3, json!(2), json!(null), json!(null)),
            calc(1, json!(null), json!(null), json!(2)),
            calc(2, json!(1), json!(null), json!(3)),
        ],
    ));
    assert_eq!(shape(&imported.definition.nodes), "k1 k2 k3");
    assert!(imported.warnings.is_empty(), "{:#?}", imported.warnings);
    let definition = &imported.definition;
    assert_eq!((definition.key.as_str(), definition.title.as_str()), ("abc123def45", "Imported"));
    assert!(definition.enabled && !definition.sync);
}

#[test]
fn nested_branches_with_a_join_after_the_block() {
    // c1 ─true→ a2 → c3 ─true→ x4
    //    │              └false→ y5
    //    └false→ b6
    // c1 → j7 (runs after whichever branch ran)
    let nodes = vec![
        cond(1, json!(null), json!(null), json!(7)),
        calc(2, json!(1), json!(1), json!(3)),
        cond(3, json!(2), json!(null), json!(null)),
        calc(4, json!(3), json!(1), json!(null)),
        calc(5, json!(3), json!(0), json!(null)),
        calc(6, json!(1), json!(0), json!(null)),
        calc(7, json!(1), json!(null), json!(null)),
    ];
    let mut reversed = nodes.clone();
    reversed.reverse();
    for list in [nodes, reversed] {
        let imported = ok(&record(false, list));
        assert_eq!(shape(&imported.definition.nodes), "k1[true: k2 k3[true: k4; false: k5]; false: k6] k7");
        assert!(imported.warnings.is_empty(), "{:#?}", imported.warnings);
    }
}

#[test]
fn string_and_number_ids_are_the_same_ids() {
    let big = "1234567890123456789";
    let nodes = vec![
        node(json!(big), "condition", json!(null), json!(null), json!("77"), json!({})),
        node(json!("55"), "end", json!(big), json!("1"), json!(null), json!({"endStatus": -1})),
        node(json!(77), "end", json!(big), json!(null), json!(null), json!({"endStatus": 1})),
    ];
    let imported = ok(&record(false, nodes));
    assert_eq!(shape(&imported.definition.nodes), format!("k{big}[true: k55] k77"));
}

#[test]
fn a_condition_without_configuration_is_always_true() {
    let imported = ok(&record(
        false,
        vec![node(json!(1), "condition", json!(null), json!(null), json!(null), json!(null))],
    ));
    let Node::Condition { config, .. } = &imported.definition.nodes[0] else { panic!() };
    let group = &config.calculation.as_ref().unwrap().group;
    assert!(group.calculations.is_empty(), "an empty `and` is true");
    assert!(!config.reject_on_false);
}

#[test]
fn a_single_comparison_becomes_a_group() {
    let imported = ok(&record(
        false,
        vec![node(
            json!(1),
            "condition",
            json!(null),
            json!(null),
            json!(null),
            json!({"rejectOnFalse": true, "calculation": {"calculator": "equal", "operands": [1, 1]}}),
        )],
    ));
    let value = serde_json::to_value(&imported.definition.nodes[0]).unwrap();
    assert_eq!(
        value["config"]["calculation"],
        json!({"group": {"type": "and", "calculations": [{"calculator": "equal", "operands": [1, 1]}]}})
    );
    assert_eq!(value["config"]["engine"], "basic");
}

#[test]
fn calculation_engines() {
    let nodes = vec![
        node(json!(1), "calculation", json!(null), json!(null), json!(2), json!({"expression": "1 + 1"})),
        node(
            json!(2),
            "calculation",
            json!(1),
            json!(null),
            json!(3),
            json!({"engine": "formula.js", "expression": "SUM(1, 2)"}),
        ),
        node(
            json!(3),
            "calculation",
            json!(2),
            json!(null),
            json!(null),
            json!({"engine": "expression", "expression": "1 + 2"}),
        ),
    ];
    let imported = ok(&record(false, nodes));
    let engines: Vec<Value> = imported
        .definition
        .nodes
        .iter()
        .map(|n| serde_json::to_value(n).unwrap()["config"]["engine"].clone())
        .collect();
    assert_eq!(
        engines,
        vec![json!("math.js"), json!("formula.js"), json!("expression")],
        "math.js is NocoBase's default"
    );

    let bad = vec![
        node(
            json!(1),
            "calculation",
            json!(null),
            json!(null),
            json!(2),
            json!({"engine": "string", "expression": "a{{x}}"}),
        ),
        node(
            json!(2),
            "calculation",
            json!(1),
            json!(null),
            json!(3),
            json!({"engine": "math.js", "expression": " "}),
        ),
        node(json!(3), "calculation", json!(2), json!(null), json!(null), json!({"engine": "math.js"})),
    ];
    let found = problems(&record(false, bad));
    assert_eq!(
        paths(&found),
        vec!["nodes[0].config.engine", "nodes[1].config.expression", "nodes[2].config.expression"]
    );
    assert_eq!(found[0].node_id, Some(json!(1)));
    assert_eq!(found[0].title.as_deref(), Some("Node k1"));
    assert!(found[0].message.contains("string"), "{}", found[0].message);
}

#[test]
fn reject_on_false_with_branches_runs_the_true_branch_in_line() {
    // c1 (rejectOnFalse) ─1→ a2 → a3;  ─0→ b4 → b5;  c1 → d6
    let mut c1 = cond(1, json!(null), json!(null), json!(6));
    c1["config"]["rejectOnFalse"] = json!(true);
    let nodes = vec![
        c1,
        calc(2, json!(1), json!(1), json!(3)),
        calc(3, json!(2), json!(null), json!(null)),
        calc(4, json!(1), json!(0), json!(5)),
        calc(5, json!(4), json!(null), json!(null)),
        calc(6, json!(1), json!(null), json!(null)),
    ];
    let imported = ok(&record(false, nodes));
    assert_eq!(shape(&imported.definition.nodes), "k1 k2 k3 k6");
    let Node::Condition { config, .. } = &imported.definition.nodes[0] else { panic!() };
    assert!(config.reject_on_false);
    let dropped: Vec<Value> = imported.warnings.iter().filter_map(|w| w.node_id.clone()).collect();
    assert_eq!(dropped, vec![json!(4), json!(5)], "{:#?}", imported.warnings);
    assert!(imported.warnings[0].message.contains("never runs"), "{}", imported.warnings[0].message);
    assert!(imported.skipped.is_empty());
}

#[test]
fn reject_on_false_inside_a_branch_nests_its_rewrite_there() {
    // c1 ─1→ c2 (rejectOnFalse) ─1→ x3 ; c2 → y4 ; c1 ─0→ z5 ; c1 → j6
    let mut c2 = cond(2, json!(1), json!(1), json!(4));
    c2["config"]["rejectOnFalse"] = json!(true);
    let nodes = vec![
        cond(1, json!(null), json!(null), json!(6)),
        c2,
        calc(3, json!(2), json!(1), json!(null)),
        calc(4, json!(2), json!(null), json!(null)),
        calc(5, json!(1), json!(0), json!(null)),
        calc(6, json!(1), json!(null), json!(null)),
    ];
    let imported = ok(&record(false, nodes));
    assert_eq!(shape(&imported.definition.nodes), "k1[true: k2 k3 k4; false: k5] k6");
}

#[test]
fn several_heads() {
    let found = problems(&record(
        false,
        vec![calc(1, json!(null), json!(null), json!(null)), calc(2, json!(null), json!(null), json!(null))],
    ));
    assert_eq!(paths(&found), vec!["nodes[1].upstreamId"]);
    assert_eq!(found[0].node_id, Some(json!(2)));
    assert!(found[0].message.contains("starts at node 1"), "{}", found[0].message);
}

#[test]
fn a_cycle_of_downstreams() {
    let found = problems(&record(
        false,
        vec![
            calc(1, json!(null), json!(null), json!(2)),
            calc(2, json!(1), json!(null), json!(3)),
            calc(3, json!(2), json!(null), json!(1)),
        ],
    ));
    assert_eq!(paths(&found), vec!["nodes[2].downstreamId"]);
    assert!(found[0].message.contains("already reached"), "{}", found[0].message);
}

#[test]
fn no_head_at_all() {
    let found = problems(&record(
        false,
        vec![calc(1, json!(2), json!(null), json!(2)), calc(2, json!(1), json!(null), json!(1))],
    ));
    assert_eq!(paths(&found), vec!["nodes", "nodes[0]", "nodes[1]"]);
}

#[test]
fn dangling_ids() {
    // A downstream to nowhere: NocoBase ends the chain there, so only a warning.
    let imported = ok(&record(false, vec![calc(1, json!(null), json!(null), json!(99))]));
    assert_eq!(paths(&imported.warnings), vec!["nodes[0].downstreamId"]);
    // An upstream to nowhere on a node that is not the head: a second head.
    let found = problems(&record(
        false,
        vec![calc(1, json!(null), json!(null), json!(null)), calc(2, json!(98), json!(null), json!(null))],
    ));
    assert_eq!(paths(&found), vec!["nodes[1].upstreamId"]);
    assert!(found[0].message.contains("refers to no node"), "{}", found[0].message);
}

#[test]
fn unreachable_nodes() {
    let found = problems(&record(
        false,
        vec![
            calc(1, json!(null), json!(null), json!(null)),
            calc(2, json!(1), json!(null), json!(3)),
            calc(3, json!(2), json!(null), json!(null)),
        ],
    ));
    assert_eq!(paths(&found), vec!["nodes[1].upstreamId", "nodes[2]"]);
    assert!(found[0].message.contains("never runs"), "{}", found[0].message);
    let lenient = import_lenient(&record(
        false,
        vec![calc(1, json!(null), json!(null), json!(null)), calc(2, json!(1), json!(null), json!(null))],
    ))
    .unwrap();
    assert_eq!(shape(&lenient.definition.nodes), "k1");
    assert_eq!(paths(&lenient.skipped), vec!["nodes[1].upstreamId"]);
}

#[test]
fn upstream_disagreements() {
    // On the main chain: NocoBase follows downstreamId and finds no branch either way.
    let imported = ok(&record(
        false,
        vec![
            calc(1, json!(null), json!(null), json!(2)),
            calc(2, json!(1), json!(null), json!(3)),
            calc(3, json!(1), json!(null), json!(null)),
        ],
    ));
    assert_eq!(shape(&imported.definition.nodes), "k1 k2 k3");
    assert_eq!(paths(&imported.warnings), vec!["nodes[2].upstreamId"]);
    // Inside a branch, pointing out of it: NocoBase would not come back to the condition.
    let found = problems(&record(
        false,
        vec![
            cond(1, json!(null), json!(null), json!(4)),
            calc(2, json!(1), json!(1), json!(3)),
            calc(3, json!(4), json!(null), json!(null)),
            calc(4, json!(1), json!(null), json!(null)),
        ],
    ));
    assert_eq!(paths(&found), vec!["nodes[2].upstreamId"]);
    assert!(found[0].message.contains("wrong node"), "{}", found[0].message);
    // A branchIndex on a node in the middle of a branch.
    let found = problems(&record(
        false,
        vec![
            cond(1, json!(null), json!(null), json!(null)),
            calc(2, json!(1), json!(1), json!(3)),
            calc(3, json!(2), json!(0), json!(null)),
        ],
    ));
    assert_eq!(found[0].path, "nodes[2].branchIndex", "{found:#?}");
}

#[test]
fn branch_problems() {
    let found = problems(&record(
        false,
        vec![
            cond(1, json!(null), json!(null), json!(null)),
            calc(2, json!(1), json!(2), json!(null)),
            calc(3, json!(1), json!(1), json!(null)),
            calc(4, json!(1), json!(1), json!(null)),
        ],
    ));
    assert_eq!(paths(&found), vec!["nodes[1]", "nodes[3]"], "{found:#?}");
    assert!(found[0].message.contains("branchIndex 2"), "{}", found[0].message);
    assert!(found[1].message.contains("two branches"), "{}", found[1].message);

    // A node type without branches: NocoBase never runs what hangs under it.
    let imported = ok(&record(
        false,
        vec![calc(1, json!(null), json!(null), json!(null)), calc(2, json!(1), json!(1), json!(null))],
    ));
    assert_eq!(shape(&imported.definition.nodes), "k1");
    assert_eq!(paths(&imported.warnings), vec!["nodes[1]"]);
}

#[test]
fn duplicate_and_missing_ids() {
    let mut no_id = calc(3, json!(1), json!(null), json!(null));
    no_id["id"] = Value::Null;
    let found = problems(&record(
        false,
        vec![
            calc(1, json!(null), json!(null), json!(null)),
            calc(1, json!(null), json!(null), json!(null)),
            no_id,
            json!(5),
        ],
    ));
    assert_eq!(paths(&found), vec!["nodes[1].id", "nodes[2].id", "nodes[3]"]);
}

#[test]
fn unsupported_nodes_and_their_branches() {
    let nodes = vec![
        node(json!(1), "loop", json!(null), json!(null), json!(3), json!({"target": 3})),
        calc(2, json!(1), json!(0), json!(null)),
        calc(3, json!(1), json!(null), json!(null)),
    ];
    let found = problems(&record(false, nodes.clone()));
    assert_eq!(paths(&found), vec!["nodes[0].type", "nodes[1]"]);
    assert_eq!(found[0].message, "node type loop is not supported");
    assert!(found[1].message.contains("left out with node 1"), "{}", found[1].message);
    let lenient = import_lenient(&record(false, nodes)).unwrap();
    assert_eq!(shape(&lenient.definition.nodes), "k3");
    assert_eq!(lenient.skipped.len(), 2);
}

#[test]
fn hookflow_validation_problems_name_the_node() {
    let nodes = vec![
        calc(1, json!(null), json!(null), json!("n-2")),
        node(
            json!("n-2"),
            "response",
            json!(1),
            json!(null),
            json!(null),
            json!({"statusCode": 200, "body": "ok"}),
        ),
    ];
    let found = problems(&record(false, nodes.clone()));
    assert_eq!(paths(&found), vec!["nodes[1]"]);
    assert_eq!(found[0].node_id, Some(json!("n-2")));
    assert_eq!(found[0].title.as_deref(), Some("Node kn-2"));
    assert!(found[0].message.contains("sync"), "{}", found[0].message);
    // Lenient: the Response node is left out, the rest imported.
    let lenient = import_lenient(&record(false, nodes)).unwrap();
    assert_eq!(shape(&lenient.definition.nodes), "k1");
    assert_eq!(paths(&lenient.skipped), vec!["nodes[1]"]);

    let found = problems(&record(
        true,
        vec![node(
            json!(1),
            "response",
            json!(null),
            json!(null),
            json!(null),
            json!({"statusCode": 99, "headers": [{"name": "X", "value": "a\nb"}]}),
        )],
    ));
    assert_eq!(paths(&found), vec!["nodes[0].config.statusCode", "nodes[0].config.headers[0].value"]);
    let found = problems(&record(
        true,
        vec![node(json!(1), "response", json!(null), json!(null), json!(null), json!({"statusCode": "x"}))],
    ));
    assert_eq!(paths(&found), vec!["nodes[0].config.statusCode"]);
}

#[test]
fn duplicate_node_keys() {
    let mut second = calc(2, json!(1), json!(null), json!(null));
    second["key"] = json!("k1");
    let found = problems(&record(false, vec![calc(1, json!(null), json!(null), json!(2)), second]));
    assert_eq!(paths(&found), vec!["nodes[1].key"]);
    assert_eq!(found[0].node_id, Some(json!(2)));
}

#[test]
fn workflow_level_problems() {
    let mut wrong_type = record(false, vec![]);
    wrong_type["data"]["type"] = json!("collection");
    assert_eq!(paths(&problems(&wrong_type)), vec!["type"]);
    assert!(import_lenient(&wrong_type).is_err(), "nothing to import leniently");

    let mut bad_key = record(false, vec![]);
    bad_key["data"]["key"] = json!("Not A Key");
    assert_eq!(paths(&problems(&bad_key)), vec!["key"]);
    let lenient = import_lenient(&bad_key).unwrap();
    assert_eq!(lenient.definition.key, "", "generated when saved");
    assert_eq!(paths(&lenient.skipped), vec!["key"]);

    let mut bad_trigger = record(false, vec![]);
    bad_trigger["data"]["config"]["request"]["body"] = json!([{"key": "a", "colour": "red"}]);
    bad_trigger["data"]["config"]["basicAuthentication"] = json!({"username": "u", "password": "p"});
    assert_eq!(paths(&problems(&bad_trigger)), vec!["config.request.body[0].colour"]);
    assert!(import_lenient(&bad_trigger).is_err(), "a trigger is never left out");

    let mut empty_password = record(false, vec![]);
    empty_password["data"]["config"]["basicAuthentication"] = json!({"username": "u", "password": ""});
    assert_eq!(paths(&problems(&empty_password)), vec!["config.basicAuthentication.password"]);

    let mut bad_timeout = record(false, vec![]);
    bad_timeout["data"]["options"]["timeout"] = json!(-5);
    assert_eq!(paths(&problems(&bad_timeout)), vec!["options.timeout"]);

    let mut no_nodes = record(false, vec![]);
    no_nodes["data"].as_object_mut().unwrap().remove("nodes");
    assert_eq!(paths(&problems(&no_nodes)), vec!["nodes"]);

    assert_eq!(paths(&problems(&json!([1]))), vec![""]);
    assert_eq!(paths(&problems(&json!({"data": []}))), vec!["data"]);
}

#[test]
fn the_bare_record_and_the_trigger_config() {
    let mut value = record(true, vec![]);
    value["data"]["config"] = json!({
        "basicAuthentication": {"username": "psp", "password": "s3cret"},
        "request": {"headers": [{"key": "x-signature"}], "query": [{"key": "event", "alias": "Event", "_var": "query_$0"}],
                    "body": [{"key": "data.id", "alias": "Order ID", "_var": "body_$0"}]},
        "response": {"statusCode": 202, "headers": [{"name": "content-type", "value": "application/json"}],
                     "body": {"ok": true, "id": "{{ $context.body.body_$0 }}"}},
        "somethingNew": 1
    });
    value["data"]["options"]["timeout"] = json!(5000);
    let bare = value["data"].clone();
    let imported = ok(&bare);
    assert_eq!(imported.definition, ok(&value).definition);
    let trigger = &imported.definition.trigger;
    assert_eq!(trigger.basic_authentication.as_ref().unwrap().username, "psp");
    assert_eq!(trigger.request.query[0].var.as_deref(), Some("query_$0"));
    assert_eq!(trigger.response.status_code, 202);
    assert_eq!(imported.definition.options.timeout, 5000);
    assert_eq!(paths(&imported.warnings), vec!["config.somethingNew"]);
}

fn assert_round_trip(definition: &WorkflowDefinition) {
    let exported = export(definition);
    let again = ok(&exported);
    assert_eq!(&again.definition, definition, "{exported:#}");
    assert!(again.warnings.is_empty(), "{:#?}", again.warnings);
}

#[test]
fn import_export_import() {
    let mut c1 = cond(1, json!(null), json!(null), json!(7));
    c1["config"]["engine"] = json!("math.js");
    c1["config"]["expression"] = json!("{{$context.body.a}} > 1");
    let nodes = vec![
        c1,
        calc(2, json!(1), json!(1), json!(3)),
        cond(3, json!(2), json!(null), json!(null)),
        node(json!(4), "end", json!(3), json!(1), json!(null), json!({"endStatus": -1})),
        node(
            json!(5),
            "response",
            json!(3),
            json!(0),
            json!(null),
            json!({"statusCode": 201, "body": {"a": "{{$context.body.a}}"}}),
        ),
        calc(6, json!(1), json!(0), json!(null)),
        node(
            json!(7),
            "response",
            json!(1),
            json!(null),
            json!(null),
            json!({"headers": [{"name": "X-A", "value": "1"}], "body": "done"}),
        ),
    ];
    let first = ok(&record(true, nodes));
    assert_round_trip(&first.definition);
    let exported = export(&first.definition);
    let listed: Vec<(Value, Value, Value, Value)> = exported["data"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (n["id"].clone(), n["upstreamId"].clone(), n["branchIndex"].clone(), n["downstreamId"].clone())
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (json!(1), json!(null), json!(null), json!(7)),
            (json!(2), json!(1), json!(1), json!(3)),
            (json!(3), json!(2), json!(null), json!(null)),
            (json!(4), json!(3), json!(1), json!(null)),
            (json!(5), json!(3), json!(0), json!(null)),
            (json!(6), json!(1), json!(0), json!(null)),
            (json!(7), json!(1), json!(null), json!(null)),
        ]
    );
    assert_eq!(exported["data"]["nodes"][3]["config"], json!({"endStatus": -1}));
    assert_eq!(exported["data"]["type"], "webhook");
}

#[test]
fn export_import_of_a_hookflow_definition() {
    let definition = decode_workflow(json!({
        "key": "payment-callback", "title": "Payment callback", "enabled": false, "sync": true,
        "options": {"timeout": 1500},
        "trigger": {"type": "webhook",
            "basicAuthentication": {"username": "psp", "password": "s3cret"},
            "request": {"headers": [{"key": "x-request-id"}], "body": [{"key": "data.id", "alias": "Payment", "_var": "paymentId"}], "rawBody": true},
            "response": {"statusCode": 200, "headers": [{"name": "X-Ack", "value": "1"}], "body": "ok"},
            "signature": {"preset": "github", "secrets": ["s3cret"]},
            "idempotency": {"from": "header", "key": "x-github-delivery", "ttl": 600},
            "allowedIps": ["10.0.0.0/8"]},
        "nodes": [
            {"key": "total", "type": "calculation", "config": {"engine": "expression", "expression": "1 + 2"}},
            {"key": "isPaid", "type": "condition", "title": "Paid?",
             "config": {"rejectOnFalse": false, "engine": "basic",
                "calculation": {"group": {"type": "and", "calculations": [
                    {"calculator": "equal", "operands": ["{{$context.body.status}}", "paid"]},
                    {"group": {"type": "or", "calculations": [{"calculator": "gt", "operands": [1, 0]}]}}]}}},
             "branches": {
                "true": [{"key": "ok", "type": "response", "config": {"statusCode": 200, "body": {"ok": true}}}],
                "false": [{"key": "check", "type": "condition", "config": {"rejectOnFalse": true, "engine": "expression", "expression": "true"}},
                          {"key": "bad", "type": "end", "config": {"endStatus": "failed"}}]}},
            {"key": "after", "type": "response", "config": {"statusCode": 500}}
        ]
    }))
    .unwrap();
    assert_round_trip(&definition);
    let exported = export(&definition);
    let config = &exported["data"]["config"];
    assert_eq!(config["signature"]["preset"], "github");
    assert_eq!(config["request"]["rawBody"], true);
    assert_eq!(config["allowedIps"], json!(["10.0.0.0/8"]));
    // Unset extensions are not written.
    let plain = decode_workflow(json!({"key": "plain", "trigger": {"type": "webhook"}})).unwrap();
    let exported = export(&plain);
    let names: Vec<&str> =
        exported["data"]["config"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, vec!["basicAuthentication", "request", "response"]);
    assert_round_trip(&plain);
}

#[test]
fn ten_thousand_nodes_in_a_chain() {
    let count = 10_000;
    let nodes: Vec<Value> = (1..=count)
        .rev()
        .map(|i| {
            let up = if i == 1 { json!(null) } else { json!((i - 1).to_string()) };
            let down = if i == count { json!(null) } else { json!(i + 1) };
            node(json!(i.to_string()), "calculation", up, json!(null), down, json!({"expression": "1"}))
        })
        .collect();
    let imported = ok(&record(false, nodes));
    assert_eq!(imported.definition.nodes.len(), count as usize);
    assert_eq!(imported.definition.nodes[9_999].key(), "k10000");
    assert_round_trip(&imported.definition);
}

#[test]
fn ten_thousand_unreachable_nodes_are_reported_briefly() {
    let mut nodes = vec![calc(1, json!(null), json!(null), json!(null))];
    nodes.extend((2..10_002).map(|i| calc(i, json!(i + 1), json!(null), json!(null))));
    let found = problems(&record(false, nodes));
    assert_eq!(found.len(), super::MAX_REPORTED);
    assert!(found.last().unwrap().message.contains("more"), "{:?}", found.last());
}

#[test]
fn a_long_cycle_ends() {
    // 1 → 2 → … → 5000 → 2
    let count = 5_000;
    let nodes: Vec<Value> = (1..=count)
        .map(|i| {
            let up = if i == 1 { json!(null) } else { json!(i - 1) };
            calc(i, up, json!(null), json!(if i == count { 2 } else { i + 1 }))
        })
        .collect();
    let found = problems(&record(false, nodes));
    assert_eq!(paths(&found), vec![format!("nodes[{}].downstreamId", count - 1).as_str()]);
    assert!(found[0].message.contains("already reached"), "{found:#?}");
}

/// Conditions nested `depth` deep, each the true branch of the one before.
fn nested(depth: i64) -> Vec<Value> {
    (1..=depth)
        .map(|i| {
            if i == 1 {
                cond(1, json!(null), json!(null), json!(null))
            } else {
                cond(i, json!(i - 1), json!(1), json!(null))
            }
        })
        .collect()
}

#[test]
fn deep_nesting_is_bounded() {
    let within = MAX_BRANCH_DEPTH as i64 + 1;
    let imported = ok(&record(false, nested(within)));
    assert_round_trip(&imported.definition);

    let found = problems(&record(false, nested(within + 1)));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].message.contains("nested more than"), "{found:#?}");

    let found = problems(&record(false, nested(20_000)));
    assert_eq!(found.len(), super::MAX_REPORTED);
    let lenient = import_lenient(&record(false, nested(20_000))).unwrap();
    assert_eq!(lenient.skipped.len(), super::MAX_REPORTED);
}

#[test]
fn upstream_cycles_are_found() {
    // Node 3 is reached through 2's downstream, but its upstream chain loops 3 → 4 → 3.
    let found = problems(&record(
        false,
        vec![
            calc(1, json!(null), json!(null), json!(2)),
            calc(2, json!(1), json!(null), json!(3)),
            calc(3, json!(4), json!(null), json!(null)),
            calc(4, json!(3), json!(null), json!(null)),
        ],
    ));
    assert!(
        found.iter().any(|p| p.path == "nodes[2].upstreamId" && p.message.contains("cycle")),
        "{found:#?}"
    );
}
