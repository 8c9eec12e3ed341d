//! The refusal rows of SPEC §4: 405, 404, 413, 401, 400 (no content type is refused: see bodies.rs).

use hookflow_tests::{spawn_app, spawn_app_with, workflow, Options};
use serde_json::{json, Value};

#[tokio::test]
async fn other_methods_get_405_with_allow() {
    let app = spawn_app().await;
    app.create_workflow(workflow("hook-405", false, json!([]))).await;
    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let response = app.client.request(method.clone(), app.webhook_url("hook-405")).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}

#[tokio::test]
async fn unknown_or_disabled_workflows_get_404() {
    let app = spawn_app().await;
    let response = app.post_json("no-such-hook", &json!({})).await;
    assert_eq!(response.status(), 404);
    assert!(response.headers().get("x-hookflow-execution-id").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let mut disabled = workflow("hook-off", false, json!([]));
    disabled["enabled"] = json!(false);
    app.create_workflow(disabled).await;
    assert_eq!(app.post_json("hook-off", &json!({})).await.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app =
        spawn_app_with(Options { settings: vec![("max_body_bytes", "64".into())], ..Default::default() })
            .await;
    app.create_workflow(workflow("hook-big", false, json!([]))).await;
    let big = json!({ "padding": "x".repeat(100) });
    let response = app.post_json("hook-big", &big).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    // A chunked body (no Content-Length) is cut off at the limit too.
    let chunk = " ".repeat(40);
    let raw = format!(
        "POST /api/webhook:trigger/hook-big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n28\r\n{chunk}\r\n28\r\n{chunk}\r\n0\r\n\r\n"
    );
    let answer = raw_http(&app.base, &raw).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(app.post_json("hook-big", &json!({"small": 1})).await.status(), 200);
}

/// Sends a hand-written HTTP request and returns the whole answer as text.
async fn raw_http(base: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn basic_auth_failures_get_401_with_a_challenge() {
    let app = spawn_app().await;
    let mut definition = workflow("hook-auth", false, json!([]));
    definition["trigger"]["basicAuthentication"] = json!({"username": "psp", "password": "s3cret"});
    app.create_workflow(definition).await;
    let url = app.webhook_url("hook-auth");
    let missing = app.client.post(&url).json(&json!({})).send().await.unwrap();
    let wrong = app.client.post(&url).basic_auth("psp", Some("nope")).json(&json!({})).send().await.unwrap();
    let wrong_user =
        app.client.post(&url).basic_auth("other", Some("s3cret")).json(&json!({})).send().await.unwrap();
    for response in [missing, wrong, wrong_user] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"hookflow\"");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let ok = app.client.post(&url).basic_auth("psp", Some("s3cret")).json(&json!({})).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn malformed_bodies_get_400_with_the_parser_message() {
    let app = spawn_app().await;
    app.create_workflow(workflow("hook-400", false, json!([]))).await;
    let response = app
        .client
        .post(app.webhook_url("hook-400"))
        .header("content-type", "application/json")
        .body("{\"a\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("malformed JSON") && message.contains("line 1"), "{message}");

    let form = app
        .client
        .post(app.webhook_url("hook-400"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a', b'=', 0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);
}
