//! IP allow-lists end to end (SPEC §3.1, §4): a caller outside `allowedIps` gets 403
//! `ip_not_allowed` before anything else is looked at; `X-Forwarded-For` is believed only from
//! a peer in `HOOKFLOW_TRUSTED_PROXIES`, read from the right.

use hookflow_tests::{spawn_app, spawn_app_with, workflow, Options, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn allowing(key: &str, allowed: Value) -> Value {
    let mut definition = workflow(key, false, json!([]));
    definition["trigger"]["allowedIps"] = allowed;
    definition["trigger"]["basicAuthentication"] = json!({"username": "psp", "password": "s3cret"});
    definition
}

async fn call(app: &TestApp, key: &str, forwarded_for: &[&str]) -> (u16, Value) {
    let mut request =
        app.client.post(app.webhook_url(key)).basic_auth("psp", Some("s3cret")).json(&json!({}));
    for value in forwarded_for {
        request = request.header("x-forwarded-for", *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn callers_outside_the_list_are_refused_first() {
    let app = spawn_app().await;
    app.create_workflow(allowing("from-loopback", json!(["127.0.0.0/8"]))).await;
    app.create_workflow(allowing("from-elsewhere", json!(["10.0.0.0/8", "2001:db8::/32"]))).await;
    assert_eq!(call(&app, "from-loopback", &[]).await.0, 200);
    let (status, body) = call(&app, "from-elsewhere", &[]).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "ip_not_allowed");
    // Without trusted proxies a forwarded address is not believed.
    assert_eq!(call(&app, "from-elsewhere", &["10.1.2.3"]).await.0, 403);
    // Refused before the body limit and basic auth are looked at (SPEC §4's order).
    let unauthenticated =
        app.client.post(app.webhook_url("from-elsewhere")).json(&json!({})).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 403);

    let bad = app
        .admin(Method::POST, "/api/workflows")
        .json(&allowing("bad-list", json!(["10.0.0.0/8", "not-an-ip"])))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let problems: Value = bad.json().await.unwrap();
    assert_eq!(problems["error"]["problems"][0]["path"], "trigger.allowedIps[1]");
}

#[tokio::test]
async fn forwarded_for_counts_behind_a_trusted_proxy() {
    let app = spawn_app_with(Options {
        settings: vec![("trusted_proxies", "127.0.0.1, 10.9.0.0/16".into())],
        ..Default::default()
    })
    .await;
    app.create_workflow(allowing("behind-proxy", json!(["198.51.100.0/24"]))).await;
    assert_eq!(call(&app, "behind-proxy", &["198.51.100.7"]).await.0, 200);
    // The right-most untrusted hop decides; what the caller wrote to its left does not.
    assert_eq!(call(&app, "behind-proxy", &["198.51.100.7, 203.0.113.5"]).await.0, 403);
    assert_eq!(call(&app, "behind-proxy", &["203.0.113.5, 198.51.100.7, 10.9.1.1"]).await.0, 200);
    // Repeated headers are one list, in order.
    assert_eq!(call(&app, "behind-proxy", &["203.0.113.5", "198.51.100.7"]).await.0, 200);
    // No header: the proxy itself is the caller.
    assert_eq!(call(&app, "behind-proxy", &[]).await.0, 403);
    assert_eq!(call(&app, "behind-proxy", &["junk"]).await.0, 403);
    // Bytes that are not text could hide the hop that decides: refused, not skipped.
    let hidden = app
        .client
        .post(app.webhook_url("behind-proxy"))
        .basic_auth("psp", Some("s3cret"))
        .header("x-forwarded-for", reqwest::header::HeaderValue::from_bytes(b"\xff").unwrap())
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 403);
    // X-Real-IP and Forwarded are not believed.
    let response = app
        .client
        .post(app.webhook_url("behind-proxy"))
        .basic_auth("psp", Some("s3cret"))
        .header("x-real-ip", "198.51.100.7")
        .header("forwarded", "for=198.51.100.7")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
