//! Sync workflows: the caller gets the Response node's answer, the 200/500 defaults, or 408.

use hookflow_tests::{execution_id, job_keys, spawn_app, spawn_app_with, workflow, Options};
use serde_json::{json, Value};

fn payment_workflow(key: &str) -> Value {
    workflow(
        key,
        true,
        json!([
            {"key": "isPaid", "type": "condition", "config": {"calculation": {"group": {"type": "and", "calculations": [
                {"calculator": "equal", "operands": ["{{$context.body.status}}", "paid"]}]}}},
             "branches": {
                "true": [{"key": "ok", "type": "response", "config": {"statusCode": 200,
                    "headers": [{"name": "X-Order", "value": "{{$context.body.orderId}}"}],
                    "body": {"ok": true, "orderId": "{{$context.body.orderId}}", "amount": "{{$context.body.amount}}"}}}],
                "false": [{"key": "bad", "type": "response", "config": {"statusCode": 400, "body": {"ok": false}}}]}},
            {"key": "never", "type": "calculation", "config": {"expression": "1"}}
        ]),
    )
}

#[tokio::test]
async fn the_response_node_answers() {
    let app = spawn_app().await;
    app.create_workflow(payment_workflow("pay")).await;
    let response = app.post_json("pay", &json!({"orderId": "A1", "status": "paid", "amount": 42})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-order"], "A1");
    let id = execution_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"ok": true, "orderId": "A1", "amount": 42}));

    let response = app.post_json("pay", &json!({"orderId": "A2", "status": "open"})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": false}));

    // Nothing runs after the Response node: its job is the last one.
    let execution = app.execution(&id).await;
    assert_eq!(job_keys(&execution), vec!["isPaid", "ok"]);
    assert_eq!(execution["status"], "resolved");
    assert_eq!(execution["mode"], "sync");
    assert_eq!(execution["response"]["statusCode"], 200);
    assert_eq!(execution["response"]["body"]["orderId"], "A1");
}

#[tokio::test]
async fn a_string_body_is_text_plain() {
    let app = spawn_app().await;
    app.create_workflow(workflow("text-reply", true, json!([
        {"key": "r", "type": "response", "config": {"statusCode": 201, "body": "thanks {{$context.body.name}}"}}
    ])))
    .await;
    let response = app.post_json("text-reply", &json!({"name": "Ann"})).await;
    assert_eq!(response.status(), 201);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "thanks Ann");
}

#[tokio::test]
async fn ending_without_a_response_node_answers_200() {
    let app = spawn_app().await;
    app.create_workflow(workflow(
        "no-reply",
        true,
        json!([
            {"key": "c", "type": "calculation", "config": {"expression": "1 + 1"}}
        ]),
    ))
    .await;
    let response = app.post_json("no-reply", &json!({})).await;
    assert_eq!(response.status(), 200);
    let id = execution_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"executionId": id, "status": "resolved"}));
}

#[tokio::test]
async fn failed_and_errored_executions_answer_500_without_detail() {
    let app = spawn_app().await;
    app.create_workflow(workflow(
        "ends-failed",
        true,
        json!([
            {"key": "stop", "type": "end", "config": {"endStatus": -1}},
            {"key": "never", "type": "calculation", "config": {"expression": "1"}}
        ]),
    ))
    .await;
    app.create_workflow(workflow(
        "ends-error",
        true,
        json!([
            {"key": "boom", "type": "calculation", "config": {"expression": "{{$context.body.s}} * 2"}}
        ]),
    ))
    .await;
    app.create_workflow(workflow("rejects", true, json!([
        {"key": "gate", "type": "condition", "config": {"rejectOnFalse": true, "engine": "expression", "expression": "{{$context.body.ok}}"}},
        {"key": "after", "type": "response", "config": {"body": "passed"}}
    ])))
    .await;
    for (key, expected_status) in [("ends-failed", "failed"), ("ends-error", "error"), ("rejects", "failed")]
    {
        let response = app.post_json(key, &json!({"s": "text", "ok": false})).await;
        assert_eq!(response.status(), 500, "{key}");
        let id = execution_id(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"error": {"code": "execution_failed", "executionId": id}}), "{key}");
        assert_eq!(app.execution(&id).await["status"], expected_status, "{key}");
    }
    let passed = app.post_json("rejects", &json!({"ok": true})).await;
    assert_eq!(passed.status(), 200);
    assert_eq!(passed.text().await.unwrap(), "passed");
}

#[tokio::test]
async fn an_unknown_calculator_is_a_job_error() {
    let app = spawn_app().await;
    app.create_workflow(workflow("odd-calc", true, json!([
        {"key": "c", "type": "condition", "config": {"calculation": {"group": {"type": "and", "calculations": [
            {"calculator": "roughly", "operands": [1, 1]}]}}}}
    ])))
    .await;
    let response = app.post_json("odd-calc", &json!({})).await;
    assert_eq!(response.status(), 500);
    let execution = app.execution(&execution_id(&response)).await;
    assert_eq!(execution["status"], "error");
    assert_eq!(execution["jobs"][0]["status"], "error");
    assert!(execution["jobs"][0]["result"]["error"].as_str().unwrap().contains("roughly"));
}

#[tokio::test]
async fn no_answer_in_time_is_408_and_the_execution_is_aborted() {
    let mut app = spawn_app_with(Options {
        settings: vec![("sync_timeout_ms", "800".into())],
        hold_workers: true,
        ..Default::default()
    })
    .await;
    app.create_workflow(payment_workflow("slow")).await;
    let mut with_own_timeout = payment_workflow("slower");
    with_own_timeout["options"] = json!({"timeout": 100});
    app.create_workflow(with_own_timeout).await;

    let started = std::time::Instant::now();
    let response = app.post_json("slow", &json!({"status": "paid"})).await;
    assert_eq!(response.status(), 408);
    assert!(started.elapsed() >= std::time::Duration::from_millis(800));
    let id = execution_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "timeout");

    // options.timeout shortens the wait below HOOKFLOW_SYNC_TIMEOUT_MS.
    let started = std::time::Instant::now();
    let response = app.post_json("slower", &json!({"status": "paid"})).await;
    assert_eq!(response.status(), 408);
    assert!(started.elapsed() < std::time::Duration::from_millis(800));

    // A worker that reaches the expired execution records it aborted without running it.
    app.start_workers().await;
    let execution = app.execution(&id).await;
    assert_eq!(execution["status"], "aborted");
    assert_eq!(execution["reason"], "timeout");
    assert_eq!(execution["jobs"], json!([]));

    let metrics = app.metrics().await;
    assert!(metrics.contains("hookflow_sync_timeouts_total 2"), "{metrics}");
}
