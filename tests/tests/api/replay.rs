//! Replay (SPEC §8): `POST /api/executions/{id}/replay` runs a recorded execution's context
//! again as a new async execution with `replayOf` set, at its original or the latest version,
//! skipping idempotency; the status filter finds what to replay.

use hookflow_tests::{execution_id, spawn_app, workflow, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn replay(app: &TestApp, id: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.admin(Method::POST, &format!("/api/executions/{id}/replay"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_recorded_execution_runs_again() {
    let app = spawn_app().await;
    let mut definition = workflow(
        "replayed",
        false,
        json!([{"key": "check", "type": "condition",
                "config": {"rejectOnFalse": true, "calculation": {"group": {"type": "and", "calculations": [
                    {"calculator": "equal", "operands": ["{{$context.body.ok}}", true]}]}}}}]),
    );
    definition["trigger"]["idempotency"] = json!({"from": "body", "key": "id"});
    app.create_workflow(definition.clone()).await;
    let failed = app.post_json("replayed", &json!({"id": "evt_7", "ok": false})).await;
    let original_id = execution_id(&failed);
    let original = app.execution(&original_id).await;
    assert_eq!(original["status"], "failed");

    // The status filter finds it.
    let listed: Value = app.admin_json("/api/workflows/replayed/executions?status=failed").await;
    assert_eq!(listed["data"][0]["id"], original_id);

    // Replayed at its version, despite its idempotency key: it runs again (and fails again).
    let response = replay(&app, &original_id, None).await;
    assert_eq!(response.status(), 202);
    let again_id = response.json::<Value>().await.unwrap()["executionId"].as_str().unwrap().to_owned();
    assert_ne!(again_id, original_id);
    let again = app.execution(&again_id).await;
    assert_eq!(again["replayOf"], original_id);
    assert_eq!(again["context"], original["context"]);
    assert_eq!(again["mode"], "async");
    assert_eq!(again["version"], 1);
    assert_eq!(again["status"], "failed");

    // Fixed in version 2 (the condition accepts anything), replayed at the latest version.
    definition["nodes"] = json!([]);
    let saved = app.admin(Method::PUT, "/api/workflows/replayed").json(&definition).send().await.unwrap();
    assert_eq!(saved.status(), 200);
    let response = replay(&app, &original_id, Some(json!({"version": "latest"}))).await;
    assert_eq!(response.status(), 202);
    let fixed_id = response.json::<Value>().await.unwrap()["executionId"].as_str().unwrap().to_owned();
    let fixed = app.execution(&fixed_id).await;
    assert_eq!((&fixed["version"], &fixed["status"]), (&json!(2), &json!("resolved")));

    // Bad requests.
    assert_eq!(replay(&app, &original_id, Some(json!({"version": "newest"}))).await.status(), 400);
    assert_eq!(replay(&app, "01920000-0000-7000-8000-000000000000", None).await.status(), 404);
    assert_eq!(replay(&app, "not-an-id", None).await.status(), 404);
    let unauthenticated =
        app.client.post(format!("{}/api/executions/{original_id}/replay", app.base)).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn a_replayed_sync_execution_records_what_its_response_node_answered() {
    let app = spawn_app().await;
    app.create_workflow(workflow(
        "replayed-sync",
        true,
        json!([{"key": "r", "type": "response",
                "config": {"statusCode": 201, "body": {"order": "{{$context.body.order}}"}}}]),
    ))
    .await;
    let answered = app.post_json("replayed-sync", &json!({"order": "A-1"})).await;
    assert_eq!(answered.status(), 201);
    let original_id = execution_id(&answered);
    // Recorded once the caller has its answer: waited for before it can be replayed.
    let original = app.execution(&original_id).await;
    let response = replay(&app, &original_id, None).await;
    assert_eq!(response.status(), 202);
    let again_id = response.json::<Value>().await.unwrap()["executionId"].as_str().unwrap().to_owned();
    let again = app.execution(&again_id).await;
    assert_eq!(again["status"], "resolved");
    assert_eq!(again["response"]["statusCode"], 201, "{again:#}");
    assert_eq!(again["response"]["body"], json!({"order": "A-1"}));
    assert_eq!(again["response"]["body"], original["response"]["body"]);
}
