//! Async workflows: answered at once with the trigger's response, run in the background.

use hookflow_tests::{execution_id, job_keys, spawn_app, workflow};
use serde_json::{json, Value};

#[tokio::test]
async fn default_answer_is_200_ok() {
    let app = spawn_app().await;
    app.create_workflow(workflow(
        "async-default",
        false,
        json!([
            {"key": "double", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}}
        ]),
    ))
    .await;
    let response = app.post_json("async-default", &json!({"n": 21})).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let id = execution_id(&response);
    assert_eq!(response.text().await.unwrap(), "ok");
    let execution = app.execution(&id).await;
    assert_eq!(execution["status"], "resolved");
    assert_eq!(execution["mode"], "async");
    assert_eq!(execution["version"], 1);
    assert_eq!(execution["jobs"][0]["result"], 42);
    assert_eq!(job_keys(&execution), vec!["double"]);
}

#[tokio::test]
async fn custom_status_headers_and_body() {
    let app = spawn_app().await;
    let mut definition = workflow("async-custom", false, json!([]));
    definition["trigger"]["response"] = json!({
        "statusCode": 202,
        "headers": [{"name": "X-Ack", "value": "1"}, {"name": "X-Queue", "value": "orders"}],
        "body": {"accepted": true}
    });
    app.create_workflow(definition).await;
    let response = app.post_json("async-custom", &json!({})).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-ack"], "1");
    assert_eq!(response.headers()["x-queue"], "orders");
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = execution_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"accepted": true}));
    assert_eq!(app.execution(&id).await["status"], "resolved");
}

#[tokio::test]
async fn a_configured_content_type_wins() {
    let app = spawn_app().await;
    let mut definition = workflow("async-xml", false, json!([]));
    definition["trigger"]["response"] = json!({
        "headers": [{"name": "Content-Type", "value": "application/xml"}], "body": "<ok/>"
    });
    app.create_workflow(definition).await;
    let response = app.post_json("async-xml", &json!({})).await;
    assert_eq!(response.headers()["content-type"], "application/xml");
    assert_eq!(response.text().await.unwrap(), "<ok/>");
}
