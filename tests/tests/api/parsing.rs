//! How a request becomes `$context`: qs-style query and form bodies, `_var` mappings,
//! lower-cased headers, and credentials that never reach the context or the stored execution.

use hookflow_tests::{execution_id, spawn_app, workflow};
use serde_json::{json, Value};

/// A sync workflow that answers with its whole `$context`.
fn echo_workflow(key: &str) -> Value {
    let mut definition = workflow(
        key,
        true,
        json!([
            {"key": "echo", "type": "response", "config": {"body": "{{$context}}"}}
        ]),
    );
    definition["trigger"]["request"] = json!({
        "headers": [{"key": "X-Request-Id", "_var": "requestId"}],
        "query": [{"key": "order.id", "alias": "Order", "_var": "orderId"}],
        "body": [{"key": "data.items[0].sku", "alias": "First SKU", "_var": "firstSku"}]
    });
    definition
}

#[tokio::test]
async fn query_body_headers_and_vars() {
    let app = spawn_app().await;
    app.create_workflow(echo_workflow("echo")).await;
    let response = app
        .client
        .post(format!(
            "{}?order[id]=7&order[tags][]=a&order[tags][]=b&list[0][x]=1&plain=a+b",
            app.webhook_url("echo")
        ))
        .header("X-Request-Id", "req-1")
        .header("X-Mixed-Case", "v")
        .json(&json!({"data": {"items": [{"sku": "S-1"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let context: Value = response.json().await.unwrap();
    assert_eq!(
        context["query"],
        json!({"order": {"id": "7", "tags": ["a", "b"]}, "list": [{"x": "1"}], "plain": "a b", "orderId": "7"})
    );
    assert_eq!(context["body"]["firstSku"], "S-1");
    assert_eq!(context["body"]["data"]["items"][0]["sku"], "S-1");
    assert_eq!(context["headers"]["x-request-id"], "req-1");
    assert_eq!(context["headers"]["x-mixed-case"], "v");
    assert_eq!(context["headers"]["requestId"], "req-1");
    assert!(context["headers"].get("X-Mixed-Case").is_none(), "header names are lower-cased");
}

#[tokio::test]
async fn form_bodies_are_parsed_like_queries() {
    let app = spawn_app().await;
    app.create_workflow(echo_workflow("echo-form")).await;
    let response = app
        .client
        .post(app.webhook_url("echo-form"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("data[items][0][sku]=F-9&data[amount]=42&note=hello%20world")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let context: Value = response.json().await.unwrap();
    assert_eq!(
        context["body"],
        json!({"data": {"items": [{"sku": "F-9"}], "amount": "42"}, "note": "hello world", "firstSku": "F-9"})
    );
}

#[tokio::test]
async fn an_empty_body_is_an_empty_object() {
    let app = spawn_app().await;
    app.create_workflow(echo_workflow("echo-empty")).await;
    let response = app.client.post(app.webhook_url("echo-empty")).send().await.unwrap();
    let context: Value = response.json().await.unwrap();
    assert_eq!(context["body"], json!({"firstSku": null}));
}

#[tokio::test]
async fn credentials_never_reach_the_context_or_the_record() {
    let app = spawn_app().await;
    let mut definition = echo_workflow("echo-secret");
    definition["trigger"]["basicAuthentication"] = json!({"username": "u", "password": "p"});
    app.create_workflow(definition).await;
    let response = app
        .client
        .post(app.webhook_url("echo-secret"))
        .basic_auth("u", Some("p"))
        .header("Cookie", "session=abc")
        .header("Proxy-Authorization", "Basic Zm9vOmJhcg==")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = execution_id(&response);
    let context: Value = response.json().await.unwrap();
    for secret in ["authorization", "cookie", "proxy-authorization"] {
        assert!(context["headers"].get(secret).is_none(), "{secret} reached $context");
    }
    let stored = app.execution(&id).await;
    let text = stored.to_string();
    assert!(!text.contains("session=abc") && !text.contains("Basic "), "a credential was stored: {text}");
    assert_eq!(stored["context"]["headers"].get("authorization"), None);
}
