//! Signed webhooks end to end (SPEC §3.1, §4): a call is checked on its raw bytes after basic
//! auth and before parsing; a forged, stale or unsigned call gets 401 with the reason's code
//! and starts nothing; the signature header never reaches `$context`; literal secrets are
//! write-only and a save that sends the mask back keeps them.

use hookflow_shared::signature::mac::hmac;
use hookflow_shared::signature::Algorithm;
use hookflow_tests::{execution_id, spawn_app, workflow, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const SECRET: &str = "whsec_test_secret";

fn stripe_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = hmac(Algorithm::Sha256, secret.as_bytes(), &[timestamp.to_string().as_bytes(), b".", body]);
    format!("t={timestamp},v1={}", hex_of(&mac))
}

fn unix_now() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(elapsed.as_secs()).unwrap()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signed_workflow(key: &str, secrets: Value) -> Value {
    let mut definition = workflow(
        key,
        true,
        json!([{"key": "reply", "type": "response", "config": {"body": {"amount": "{{$context.body.amount}}"}}}]),
    );
    definition["trigger"]["signature"] = json!({"preset": "stripe", "secrets": secrets});
    definition
}

async fn post(app: &TestApp, key: &str, body: &str, signature: Option<String>) -> Response {
    let mut request = app
        .client
        .post(app.webhook_url(key))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    request.send().await.unwrap()
}

async fn refused_with(response: Response, code: &str) {
    assert_eq!(response.status(), 401, "{code}");
    assert!(response.headers().get("x-hookflow-execution-id").is_none(), "{code}: nothing started");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code);
}

#[tokio::test]
async fn only_correctly_signed_calls_run() {
    let app = spawn_app().await;
    app.create_workflow(signed_workflow("signed-stripe", json!(["whsec_old", SECRET]))).await;
    let body = r#"{"id":"evt_1","amount":4200}"#;
    let now = unix_now();

    let good = post(&app, "signed-stripe", body, Some(stripe_header(SECRET, now, body.as_bytes()))).await;
    assert_eq!(good.status(), 200);
    let id = execution_id(&good);
    assert_eq!(good.json::<Value>().await.unwrap(), json!({"amount": 4200}));
    let execution = app.execution(&id).await;
    let headers = execution["context"]["headers"].as_object().unwrap();
    assert!(!headers.contains_key("stripe-signature"), "the signature is not stored: {headers:?}");
    assert!(headers.contains_key("content-type"));

    let tampered = body.replace("4200", "42000");
    refused_with(
        post(&app, "signed-stripe", &tampered, Some(stripe_header(SECRET, now, body.as_bytes()))).await,
        "signature_invalid",
    )
    .await;
    refused_with(
        post(&app, "signed-stripe", body, Some(stripe_header("whsec_wrong", now, body.as_bytes()))).await,
        "signature_invalid",
    )
    .await;
    refused_with(
        post(&app, "signed-stripe", body, Some(stripe_header(SECRET, now - 3600, body.as_bytes()))).await,
        "signature_expired",
    )
    .await;
    refused_with(
        post(&app, "signed-stripe", body, Some(stripe_header(SECRET, now + 3600, body.as_bytes()))).await,
        "signature_expired",
    )
    .await;
    refused_with(post(&app, "signed-stripe", body, None).await, "signature_missing").await;
    refused_with(post(&app, "signed-stripe", body, Some("t=abc,v1=zz".into())).await, "signature_missing")
        .await;
    // Verified before parsing: a forged call with a broken body is refused for its signature.
    refused_with(
        post(&app, "signed-stripe", "{not json", Some(stripe_header("whsec_wrong", now, b"{not json"))).await,
        "signature_invalid",
    )
    .await;
    // A correctly signed broken body gets the parser's 400.
    let broken =
        post(&app, "signed-stripe", "{not json", Some(stripe_header(SECRET, now, b"{not json"))).await;
    assert_eq!(broken.status(), 400);
    // The old secret still verifies until it is removed (rotation).
    let old = post(&app, "signed-stripe", body, Some(stripe_header("whsec_old", now, body.as_bytes()))).await;
    assert_eq!(old.status(), 200);
    app.execution(&execution_id(&old)).await;

    // Only the one good call and the one under the old secret ran.
    let listed: Value = app.admin_json("/api/workflows/signed-stripe/executions?limit=50").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
}

#[tokio::test]
async fn signature_secrets_are_write_only() {
    let app = spawn_app().await;
    let created = app.create_workflow(signed_workflow("masked-stripe", json!(["whsec_first", SECRET]))).await;
    assert_eq!(created["trigger"]["signature"]["secrets"], json!(["********", "********"]));
    let fetched: Value = app.admin_json("/api/workflows/masked-stripe").await;
    assert!(!fetched.to_string().contains(SECRET), "{fetched}");

    // Sent back unchanged: the masks keep both stored secrets.
    let response =
        app.admin(Method::PUT, "/api/workflows/masked-stripe").json(&fetched).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body = r#"{"amount":1}"#;
    let now = unix_now();
    for secret in ["whsec_first", SECRET] {
        let signature = Some(stripe_header(secret, now, body.as_bytes()));
        assert_eq!(post(&app, "masked-stripe", body, signature).await.status(), 200);
    }
    // Dropping one by sending fewer masks is ambiguous: refused, not guessed.
    let mut edited = fetched.clone();
    edited["trigger"]["signature"]["secrets"] = json!(["********"]);
    let response = app.admin(Method::PUT, "/api/workflows/masked-stripe").json(&edited).send().await.unwrap();
    assert_eq!(response.status(), 422);
    // Removing the leaked first one: the remaining one sent in full.
    edited["trigger"]["signature"]["secrets"] = json!([SECRET]);
    let response = app.admin(Method::PUT, "/api/workflows/masked-stripe").json(&edited).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let signature = Some(stripe_header("whsec_first", now, body.as_bytes()));
    refused_with(post(&app, "masked-stripe", body, signature).await, "signature_invalid").await;

    // A mask where nothing is stored is refused, naming the position.
    edited["trigger"]["signature"]["secrets"] = json!(["********", "********"]);
    let response = app.admin(Method::PUT, "/api/workflows/masked-stripe").json(&edited).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let problems: Value = response.json().await.unwrap();
    assert_eq!(problems["error"]["problems"][0]["path"], "trigger.signature.secrets[1]", "{problems}");
}

#[tokio::test]
async fn bad_signature_settings_are_refused_at_save() {
    let app = spawn_app().await;
    let mut definition = signed_workflow("bad-signature", json!([]));
    definition["trigger"]["signature"]["tolerance"] = json!(0);
    let response = app.admin(Method::POST, "/api/workflows").json(&definition).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let paths: Vec<&str> =
        body["error"]["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["trigger.signature.secrets", "trigger.signature.tolerance"]);
}

#[tokio::test]
async fn fetched_workflows_save_back_unchanged_whatever_the_secret_format() {
    let app = spawn_app().await;
    // These presets decode their secrets (base64, hex): the mask must not be decoded as one.
    for (key, preset, secret) in [
        ("masked-standard", "standard-webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("masked-adyen", "adyen", "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"),
    ] {
        let mut definition = workflow(key, false, json!([]));
        definition["trigger"]["signature"] = json!({"preset": preset, "secrets": [secret]});
        app.create_workflow(definition).await;
        let fetched: Value = app.admin_json(&format!("/api/workflows/{key}")).await;
        assert_eq!(fetched["trigger"]["signature"]["secrets"], json!(["********"]));
        let response =
            app.admin(Method::PUT, &format!("/api/workflows/{key}")).json(&fetched).send().await.unwrap();
        assert_eq!(response.status(), 200, "{key}: {}", response.text().await.unwrap());
    }
}
