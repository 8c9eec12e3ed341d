//! Bodies as providers send them (SPEC §4): JSON and forms as declared; multipart fields; XML
//! as JSON; any other or no content type read as JSON when it is JSON, else `{}`, never
//! refused; `rawBody` (base64 when not UTF-8) whenever the body was not read as JSON or a
//! form, or when `trigger.request.rawBody` asks for it. And the async trigger response
//! rendered as a template over the call.

use hookflow_tests::{execution_id, spawn_app, workflow, TestApp};
use serde_json::{json, Value};

/// POSTs `body` with `content_type` and returns the recorded `$context`.
async fn context_of(app: &TestApp, key: &str, content_type: Option<&str>, body: Vec<u8>) -> Value {
    let mut request = app.client.post(app.webhook_url(key)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{content_type:?}: {}", response.text().await.unwrap_or_default());
    app.execution(&execution_id(&response)).await["context"].clone()
}

#[tokio::test]
async fn every_content_type_is_read() {
    let app = spawn_app().await;
    app.create_workflow(workflow("any-body", false, json!([]))).await;

    let plain = context_of(&app, "any-body", Some("text/plain"), b"hello".to_vec()).await;
    assert_eq!((&plain["body"], &plain["rawBody"]), (&json!({}), &json!("hello")));
    assert!(plain.get("rawBodyEncoding").is_none());

    let undeclared = context_of(&app, "any-body", None, br#"{"id":"evt_1"}"#.to_vec()).await;
    assert_eq!(undeclared["body"], json!({"id": "evt_1"}));
    assert!(undeclared.get("rawBody").is_none(), "read as JSON: no rawBody");

    let declared =
        context_of(&app, "any-body", Some("application/json"), br#"{"id":"evt_2"}"#.to_vec()).await;
    assert!(declared.get("rawBody").is_none());

    let xml = br#"<?xml version="1.0"?><payment id="7"><status>paid</status><item>a</item><item>b</item></payment>"#;
    let from_xml = context_of(&app, "any-body", Some("text/xml; charset=utf-8"), xml.to_vec()).await;
    assert_eq!(from_xml["body"], json!({"payment": {"@id": "7", "status": "paid", "item": ["a", "b"]}}));
    assert_eq!(from_xml["rawBody"], String::from_utf8(xml.to_vec()).unwrap());

    let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"orderId\"\r\n\r\n42\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"receipt\"; filename=\"r.txt\"\r\n\
                     Content-Type: text/plain\r\n\r\nthanks\r\n--XyZ--\r\n";
    let from_multipart = context_of(
        &app,
        "any-body",
        Some("multipart/form-data; boundary=XyZ"),
        multipart.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(
        from_multipart["body"],
        json!({"orderId": "42", "receipt": {"filename": "r.txt", "contentType": "text/plain", "size": 6}})
    );

    let binary = context_of(&app, "any-body", Some("application/octet-stream"), vec![0xff, 0x00, 0x10]).await;
    assert_eq!((&binary["rawBody"], &binary["rawBodyEncoding"]), (&json!("/wAQ"), &json!("base64")));
}

#[tokio::test]
async fn malformed_declared_bodies_get_400() {
    let app = spawn_app().await;
    app.create_workflow(workflow("strict-body", false, json!([]))).await;
    for (content_type, body) in [
        ("application/xml", "<a><b></a>"),
        ("text/xml", "<!DOCTYPE l [<!ENTITY a \"aaaa\">]><l>&a;</l>"),
        ("multipart/form-data; boundary=XyZ", "not multipart"),
        ("multipart/form-data", "--x\r\n"),
    ] {
        let response = app
            .client
            .post(app.webhook_url("strict-body"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{content_type}: {body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "bad_request", "{content_type}");
    }
}

#[tokio::test]
async fn raw_body_on_request_and_templated_async_responses() {
    let app = spawn_app().await;
    let mut definition = workflow("raw-and-templated", false, json!([]));
    definition["trigger"]["request"] = json!({"rawBody": true});
    definition["trigger"]["response"] = json!({
        "statusCode": 202,
        "headers": [{"name": "X-Order", "value": "{{$context.query.order}}"},
                    {"name": "X-Note", "value": "{{$context.body.note}}"}],
        "body": {"received": "{{$context.body.id}}", "order": "order-{{$context.query.order}}"}
    });
    app.create_workflow(definition).await;
    let body = r#"{"id":"evt_9","note":"a\r\nX-Injected: 1"}"#;
    let response = app
        .client
        .post(format!("{}?order=77", app.webhook_url("raw-and-templated")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-order"], "77");
    assert!(response.headers().get("x-note").is_none(), "a header rendered with CR/LF is left out");
    assert!(response.headers().get("x-injected").is_none());
    let id = execution_id(&response);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"received": "evt_9", "order": "order-77"}));
    let context = app.execution(&id).await["context"].clone();
    assert_eq!(context["rawBody"], body, "kept on request even though the body was JSON");

    let mut broken = workflow("broken-template", false, json!([]));
    broken["trigger"]["response"] = json!({"body": "{{$context.body"});
    let saved = app.admin(reqwest::Method::POST, "/api/workflows").json(&broken).send().await.unwrap();
    assert_eq!(saved.status(), 422);
    let problems: Value = saved.json().await.unwrap();
    assert_eq!(problems["error"]["problems"][0]["path"], "trigger.response.body");
}
