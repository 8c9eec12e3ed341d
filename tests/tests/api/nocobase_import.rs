//! NocoBase workflows imported through the admin API and `ingress import`, exported back, and
//! run. Each file in `tests/fixtures/nocobase/` is a workflow as NocoBase's
//! `GET /api/workflows:get?filterByTk=<id>&appends[]=nodes` returns it; the webhook calls
//! assert what NocoBase answers for it (statuses, bodies, which nodes ran), reasoned from its
//! `Processor`, `ConditionInstruction`, `CalculationInstruction`, `EndInstruction`,
//! `logicCalculate`, `json-templates` and evaluators.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use hookflow_tests::cluster::binary;
use hookflow_tests::{execution_id, job_keys, spawn_app, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};

fn fixture_path(name: &str) -> String {
    format!("{}/fixtures/nocobase/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

async fn post_import(app: &TestApp, body: &Value, query: &str) -> (u16, Value) {
    let response =
        app.admin(Method::POST, &format!("/api/workflows/import{query}")).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("import answered {text:?}: {e}")))
}

/// Imports a fixture, which must be created with nothing left out.
async fn import_fixture(app: &TestApp, name: &str) -> Value {
    let (status, answer) = post_import(app, &fixture(name), "").await;
    assert_eq!(status, 201, "{answer:#}");
    assert_eq!(answer["import"]["skipped"], json!([]), "{answer:#}");
    answer
}

/// The execution behind a webhook answer, with its jobs.
async fn execution_of(app: &TestApp, response: &Response) -> Value {
    app.execution(&execution_id(response)).await
}

fn job_statuses(execution: &Value) -> Vec<String> {
    execution["jobs"].as_array().unwrap().iter().map(|j| j["status"].as_str().unwrap().to_owned()).collect()
}

/// The definition part of a workflow as the admin API shows it.
fn definition_of(workflow: &Value) -> Value {
    let mut definition = workflow.clone();
    for field in ["version", "webhookUrl", "createdAt", "updatedAt", "import"] {
        definition.as_object_mut().unwrap().remove(field);
    }
    definition
}

#[tokio::test]
async fn payment_callback_answers_through_the_branch_that_ran() {
    let app = spawn_app().await;
    let created = import_fixture(&app, "payment-callback").await;
    assert_eq!(created["key"], "pc7x2m9q4ab", "NocoBase's key is kept: the webhook URL stays the same");
    assert_eq!(created["version"], 1);
    assert_eq!(created["sync"], true);
    assert_eq!(created["import"]["warnings"], json!([]));

    let paid = app.post_json("pc7x2m9q4ab", &json!({"status": "paid", "orderId": "A-1001"})).await;
    assert_eq!(paid.status(), 200);
    let execution = execution_of(&app, &paid).await;
    assert_eq!(paid.json::<Value>().await.unwrap(), json!({"ok": true, "orderId": "A-1001"}));
    assert_eq!(execution["status"], "resolved");
    assert_eq!(job_keys(&execution), vec!["k2v8n1q7zpa", "r9s3d5f1gh0"]);
    assert_eq!(job_statuses(&execution), vec!["resolved", "resolved"]);
    assert_eq!(execution["jobs"][0]["result"], true);

    // A whole-string placeholder keeps the value's type (json-templates returns it as it is).
    let numeric = app.post_json("pc7x2m9q4ab", &json!({"status": "paid", "orderId": 1001})).await;
    assert_eq!(numeric.json::<Value>().await.unwrap(), json!({"ok": true, "orderId": 1001}));

    let pending = app.post_json("pc7x2m9q4ab", &json!({"status": "pending", "orderId": "A-1002"})).await;
    assert_eq!(pending.status(), 400);
    let execution = execution_of(&app, &pending).await;
    assert_eq!(
        pending.json::<Value>().await.unwrap(),
        json!({"ok": false, "reason": "status pending is not paid"})
    );
    // The Response node ends the execution resolved, whatever status it answered with.
    assert_eq!(execution["status"], "resolved");
    assert_eq!(job_keys(&execution), vec!["k2v8n1q7zpa", "r4t6y8u0iop"]);
    assert_eq!(execution["jobs"][0]["result"], false);
}

#[tokio::test]
async fn async_order_events_answer_at_once_and_calculate_with_math_js() {
    let app = spawn_app().await;
    import_fixture(&app, "async-order-events").await;
    let url = format!("{}?event=order.created", app.webhook_url("ev3n7s8w2kd"));
    let body = json!({"data": {"amount": 0.1, "quantity": 3}});

    let anonymous = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = app.client.post(&url).basic_auth("shop", Some("nope")).json(&body).send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let accepted = app
        .client
        .post(&url)
        .basic_auth("shop", Some("s3cret-pass"))
        .header("x-shop-topic", "orders/create")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    assert_eq!(accepted.headers()["x-received"], "order.created");
    let execution = execution_of(&app, &accepted).await;
    assert_eq!(accepted.json::<Value>().await.unwrap(), json!({"accepted": true, "event": "order.created"}));
    assert_eq!(execution["mode"], "async");
    assert_eq!(execution["status"], "resolved");
    assert_eq!(job_keys(&execution), vec!["l1n3t0t4lzq"]);
    assert_eq!(execution["jobs"][0]["status"], "resolved");
    // 0.1 * 3 is 0.30000000000000004 in JavaScript; NocoBase rounds results to 9 decimals.
    assert_eq!(execution["jobs"][0]["result"], json!(0.3));
    let context = &execution["context"];
    assert_eq!(context["query"]["query_$0"], "order.created");
    assert_eq!(context["body"]["body_$0"], json!(0.1));
    assert_eq!(context["body"]["body_$1"], json!(3));
    assert_eq!(context["headers"]["x-shop-topic"], "orders/create");
    // NocoBase keeps every header; Hookflow never stores credentials (SPEC §4), on purpose.
    assert!(context["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn formula_js_results_reach_the_answer_through_jobs_map_by_node_key() {
    let app = spawn_app().await;
    import_fixture(&app, "sync-formula").await;
    let big = app
        .post_json("fm1x9c2v7bn", &json!({"first": "Ada", "last": "Lovelace", "items": [19.99, 80.01, 5]}))
        .await;
    assert_eq!(big.status(), 200);
    assert_eq!(big.headers()["x-order-size"], "big");
    let execution = execution_of(&app, &big).await;
    // SUM's float total is rounded to 9 decimals (105); pasted into text it is JavaScript's
    // String(105), "105".
    assert_eq!(
        big.json::<Value>().await.unwrap(),
        json!({"greeting": "Hello Ada Lovelace", "total": 105, "size": "big", "summary": "Hello Ada Lovelace: 105 (big)"})
    );
    assert_eq!(job_keys(&execution), vec!["n4m3g7r33t1", "t0t4l9s3m2x", "s1z3c4t5g6r", "r2e5p8l1y0s"]);
    assert_eq!(execution["status"], "resolved");

    let small =
        app.post_json("fm1x9c2v7bn", &json!({"first": "Alan", "last": "Turing", "items": [0.5, 1.25]})).await;
    assert_eq!(small.status(), 200);
    assert_eq!(
        small.json::<Value>().await.unwrap(),
        json!({"greeting": "Hello Alan Turing", "total": 1.75, "size": "small", "summary": "Hello Alan Turing: 1.75 (small)"})
    );
}

#[tokio::test]
async fn nested_conditions_join_after_the_branch_block_and_end_fails_the_execution() {
    let app = spawn_app().await;
    import_fixture(&app, "nested-conditions").await;
    let key = "nst8c4d1j0e";

    let small = app.post_json(key, &json!({"orderId": "o-1", "amount": 40})).await;
    assert_eq!(small.status(), 200);
    let execution = execution_of(&app, &small).await;
    assert_eq!(small.json::<Value>().await.unwrap(), json!({"orderId": "o-1", "large": false}));
    assert_eq!(job_keys(&execution), vec!["l4rg3ord3rq", "sm4llf33add", "j01nr3pl7ok"]);
    assert_eq!(execution["jobs"][1]["result"], json!(44.99));

    let vip = app.post_json(key, &json!({"orderId": "o-2", "amount": 250, "vip": true})).await;
    assert_eq!(vip.status(), 200);
    let execution = execution_of(&app, &vip).await;
    assert_eq!(vip.json::<Value>().await.unwrap(), json!({"orderId": "o-2", "large": true}));
    assert_eq!(job_keys(&execution), vec!["l4rg3ord3rq", "v1pcl13ntch", "d1sc0untv1p", "j01nr3pl7ok"]);
    assert_eq!(execution["jobs"][2]["result"], json!(225));

    // `equal` is JavaScript's `==`: 1 == true.
    let coerced = app.post_json(key, &json!({"orderId": "o-3", "amount": "250", "vip": 1})).await;
    assert_eq!(coerced.status(), 200);
    assert_eq!(coerced.json::<Value>().await.unwrap(), json!({"orderId": "o-3", "large": true}));

    // The end node stops everything, the join included: failed, and a sync caller gets 500.
    let refused = app.post_json(key, &json!({"orderId": "o-4", "amount": 250, "vip": false})).await;
    assert_eq!(refused.status(), 500);
    let id = execution_id(&refused);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"error": {"code": "execution_failed", "executionId": id}})
    );
    let execution = app.execution(&id).await;
    assert_eq!(execution["status"], "failed");
    assert_eq!(job_keys(&execution), vec!["l4rg3ord3rq", "v1pcl13ntch", "r3fus3l4rg3"]);
    assert_eq!(job_statuses(&execution), vec!["resolved", "resolved", "failed"]);
}

#[tokio::test]
async fn a_rejecting_condition_and_a_math_js_condition() {
    let app = spawn_app().await;
    let created = import_fixture(&app, "reject-and-mathjs").await;
    // The rejecting condition's false branch never runs in NocoBase: left out, with a warning.
    let warnings = created["import"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["nodeId"], "400203");
    assert_eq!(warnings[0]["title"], "Forbidden");
    // Its true branch runs in line, before the condition's downstream.
    let keys: Vec<&str> =
        created["nodes"].as_array().unwrap().iter().map(|n| n["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["t0k3nch3ck1", "d0ubl3sc0r3", "p4ss3dm4thj"]);
    let key = "gk5m2j8r3tq";
    let call = |score: Value, token: Option<&'static str>| {
        let mut request = app.client.post(app.webhook_url(key)).json(&json!({"score": score}));
        if let Some(token) = token {
            request = request.header("x-api-token", token);
        }
        request.send()
    };

    let passed = call(json!(60), Some("let-me-in")).await.unwrap();
    assert_eq!(passed.status(), 200);
    let execution = execution_of(&app, &passed).await;
    assert_eq!(passed.json::<Value>().await.unwrap(), json!({"passed": true, "doubled": 120}));
    assert_eq!(job_keys(&execution), vec!["t0k3nch3ck1", "d0ubl3sc0r3", "p4ss3dm4thj", "y3sp4ss3d00"]);
    assert_eq!(execution["jobs"][2]["result"], true);

    let low = call(json!(20), Some("let-me-in")).await.unwrap();
    assert_eq!(low.status(), 422);
    assert_eq!(low.json::<Value>().await.unwrap(), json!({"passed": false}));

    for token in [Some("guess"), None] {
        let refused = call(json!(60), token).await.unwrap();
        assert_eq!(refused.status(), 500, "{token:?}");
        let execution = execution_of(&app, &refused).await;
        assert_eq!(execution["status"], "failed");
        assert_eq!(job_keys(&execution), vec!["t0k3nch3ck1"]);
        assert_eq!(job_statuses(&execution), vec!["failed"]);
        assert_eq!(execution["jobs"][0]["result"], false);
    }
}

/// Fixture (a) turned async: its Response nodes are refused, and a node type that Hookflow
/// does not run yet is added after the condition.
fn unimportable() -> Value {
    let mut value = fixture("payment-callback");
    value["data"]["sync"] = json!(false);
    let nodes = value["data"]["nodes"].as_array_mut().unwrap();
    nodes[1]["downstreamId"] = json!(218405718425604u64);
    nodes.push(json!({
        "id": 218405718425604u64, "key": "n0t1fy5h0p1", "title": "Notify the shop", "type": "request",
        "upstreamId": 218405718425601u64, "branchIndex": null, "downstreamId": null,
        "config": {"method": "POST", "url": "https://shop.example/paid"}, "workflowId": 218405718425600u64
    }));
    value
}

#[tokio::test]
async fn problems_name_the_nocobase_nodes_and_lenient_imports_the_rest() {
    let app = spawn_app().await;
    let (status, answer) = post_import(&app, &unimportable(), "").await;
    assert_eq!(status, 422, "{answer:#}");
    assert_eq!(answer["error"]["code"], "validation_failed");
    let problems = answer["error"]["problems"].as_array().unwrap();
    let by_id = |id: u64| {
        problems
            .iter()
            .find(|p| p["nodeId"] == json!(id))
            .unwrap_or_else(|| panic!("no problem for {id}: {answer:#}"))
    };
    let request = by_id(218405718425604);
    assert_eq!(request["title"], "Notify the shop");
    assert_eq!(request["path"], "nodes[3].type");
    assert_eq!(request["message"], "node type request is not supported");
    for (id, title, path) in
        [(218405718425602u64, "Accept", "nodes[2]"), (218405718425603, "Refuse", "nodes[0]")]
    {
        let problem = by_id(id);
        assert_eq!((problem["title"].as_str(), problem["path"].as_str()), (Some(title), Some(path)));
        assert!(problem["message"].as_str().unwrap().contains("sync"), "{problem}");
    }
    assert_eq!(problems.len(), 3, "{answer:#}");
    assert_eq!(app.admin(Method::GET, "/api/workflows/pc7x2m9q4ab").send().await.unwrap().status(), 404);

    let (status, answer) = post_import(&app, &unimportable(), "?lenient=true").await;
    assert_eq!(status, 201, "{answer:#}");
    assert_eq!(answer["key"], "pc7x2m9q4ab");
    let skipped: Vec<&Value> =
        answer["import"]["skipped"].as_array().unwrap().iter().map(|p| &p["nodeId"]).collect();
    assert_eq!(skipped.len(), 3, "{answer:#}");
    let kept: Vec<&str> =
        answer["nodes"].as_array().unwrap().iter().map(|n| n["key"].as_str().unwrap()).collect();
    assert_eq!(kept, vec!["k2v8n1q7zpa"]);
    // What was left out may have guarded the rest: the workflow waits, disabled, for a look.
    assert_eq!(answer["enabled"], false, "{answer:#}");
    assert!(
        answer["import"]["warnings"].as_array().unwrap().iter().any(|w| w["path"] == "enabled"),
        "{answer:#}"
    );
    let waiting = app.post_json("pc7x2m9q4ab", &json!({"status": "paid"})).await;
    assert_eq!(waiting.status(), 404);
    let enabled = app
        .admin(Method::PATCH, "/api/workflows/pc7x2m9q4ab")
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    let called = app.post_json("pc7x2m9q4ab", &json!({"status": "paid"})).await;
    assert_eq!((called.status().as_u16(), called.text().await.unwrap()), (200, "ok".to_owned()));

    // Creating never replaces: the same key again is a conflict, as for POST /api/workflows.
    let (status, answer) = post_import(&app, &fixture("payment-callback"), "").await;
    assert_eq!(status, 409, "{answer:#}");
}

#[tokio::test]
async fn the_export_imports_back_to_the_same_workflow() {
    let app = spawn_app().await;
    let created = import_fixture(&app, "nested-conditions").await;
    let local = hookflow_shared::nocobase::import(&fixture("nested-conditions")).unwrap();
    assert_eq!(definition_of(&created), serde_json::to_value(&local.definition).unwrap());

    let exported = app.admin_json("/api/workflows/nst8c4d1j0e?format=nocobase").await;
    let nodes = exported["data"]["nodes"].as_array().unwrap();
    let ids: Vec<&Value> = nodes.iter().map(|n| &n["id"]).collect();
    assert_eq!(ids, vec![&json!(1), &json!(2), &json!(3), &json!(4), &json!(5), &json!(6)]);
    assert_eq!(exported["data"]["type"], "webhook");

    let deleted = app.admin(Method::DELETE, "/api/workflows/nst8c4d1j0e").send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, again) = post_import(&app, &exported, "").await;
    assert_eq!(status, 201, "{again:#}");
    assert_eq!(again["import"], json!({"warnings": [], "skipped": []}));
    assert_eq!(definition_of(&again), definition_of(&created));
    let refused = app.post_json("nst8c4d1j0e", &json!({"orderId": "o-9", "amount": 300, "vip": false})).await;
    assert_eq!(refused.status(), 500);
}

#[tokio::test]
async fn exports_keep_secrets_write_only_and_formats_are_checked() {
    let app = spawn_app().await;
    import_fixture(&app, "async-order-events").await;
    let exported = app.admin_json("/api/workflows/ev3n7s8w2kd?format=nocobase").await;
    assert_eq!(
        exported["data"]["config"]["basicAuthentication"],
        json!({"username": "shop", "password": "********"})
    );
    assert_eq!(exported["data"]["config"]["request"]["query"][0]["_var"], "query_$0");
    // The mask never becomes a password: importing the export asks for the real one.
    let mut under_new_key = exported.clone();
    under_new_key["data"]["key"] = json!("ev3n7s8w2k2");
    let (status, answer) = post_import(&app, &under_new_key, "?lenient=true").await;
    assert_eq!(status, 422, "{answer:#}");
    assert_eq!(answer["error"]["problems"][0]["path"], "config.basicAuthentication.password", "{answer:#}");
    under_new_key["data"]["config"]["basicAuthentication"]["password"] = json!("s3cret-again");
    let (status, answer) = post_import(&app, &under_new_key, "").await;
    assert_eq!(status, 201, "{answer:#}");

    let bogus = app.admin(Method::GET, "/api/workflows/ev3n7s8w2kd?format=bogus").send().await.unwrap();
    assert_eq!(bogus.status(), 400);
    let body: Value = bogus.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("bogus"), "{body}");
    let missing = app.admin(Method::GET, "/api/workflows/nothing-here?format=nocobase").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let anonymous = app
        .client
        .post(format!("{}/api/workflows/import", app.base))
        .json(&fixture("payment-callback"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // `import` is a valid key: the import route takes POST only, and leaves the rest to it.
    app.create_workflow(hookflow_tests::workflow("import", false, json!([]))).await;
    let fetched = app.admin_json("/api/workflows/import").await;
    assert_eq!(fetched["key"], "import");
}

fn run_cli(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(binary("ingress"));
    // No configuration at all: converting a file needs none.
    command.env_clear().arg("import").args(args);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("ingress runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn the_cli_converts_a_file_and_stdin() {
    for name in
        ["payment-callback", "async-order-events", "sync-formula", "nested-conditions", "reject-and-mathjs"]
    {
        let expected = hookflow_shared::nocobase::import(&fixture(name)).unwrap();
        let expected = serde_json::to_value(&expected.definition).unwrap();
        let from_file = run_cli(&[&fixture_path(name)], None);
        assert_eq!(from_file.status.code(), Some(0), "{}", String::from_utf8_lossy(&from_file.stderr));
        let printed: Value = serde_json::from_slice(&from_file.stdout).unwrap();
        assert_eq!(printed, expected, "{name}");

        let text = std::fs::read(fixture_path(name)).unwrap();
        let from_stdin = run_cli(&["-"], Some(&text));
        assert_eq!(from_stdin.status.code(), Some(0), "{}", String::from_utf8_lossy(&from_stdin.stderr));
        assert_eq!(from_stdin.stdout, from_file.stdout, "{name}");
        let stderr = String::from_utf8_lossy(&from_file.stderr);
        if name == "reject-and-mathjs" {
            assert!(stderr.starts_with("warning: node 400203 \"Forbidden\""), "{stderr}");
        } else {
            assert!(stderr.is_empty(), "{name}: {stderr}");
        }
    }
}

#[test]
fn the_cli_reports_problems_and_unreadable_input() {
    let text = serde_json::to_vec(&unimportable()).unwrap();
    let refused = run_cli(&["-"], Some(&text));
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("problem: node 218405718425604 \"Notify the shop\", nodes[3].type: node type request is not supported"), "{stderr}");
    assert!(stderr.contains("problem: node 218405718425603 \"Refuse\", nodes[0]: "), "{stderr}");

    let lenient = run_cli(&["--lenient", "-"], Some(&text));
    assert_eq!(lenient.status.code(), Some(0), "{}", String::from_utf8_lossy(&lenient.stderr));
    let printed: Value = serde_json::from_slice(&lenient.stdout).unwrap();
    assert_eq!(printed["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(String::from_utf8_lossy(&lenient.stderr).matches("skipped: ").count(), 3);

    assert_eq!(run_cli(&["/nonexistent/workflow.json"], None).status.code(), Some(2));
    assert_eq!(run_cli(&["-"], Some(b"{not json")).status.code(), Some(2));
    assert_eq!(run_cli(&[], None).status.code(), Some(2));
}
