//! Idempotency keys end to end (SPEC §3.1), in the mode of the run (distributed: across both
//! ingress replicas): concurrent duplicates start one execution; a sync duplicate gets 409
//! while the first runs and the first's answer after; a first run not answered 2xx gives its
//! key up so the retry runs; a Redis flush changes nothing.

use std::collections::HashSet;

use futures_util::future::join_all;
use hookflow_tests::{execution_id, spawn_app, spawn_app_with, workflow, Options, TestApp};
use reqwest::{Method, Response};
use serde_json::{json, Value};

fn keyed(key: &str, sync: bool, nodes: Value) -> Value {
    let mut definition = workflow(key, sync, nodes);
    definition["trigger"]["idempotency"] = json!({"from": "body", "key": "id", "ttl": 3600});
    definition
}

fn is_duplicate(response: &Response) -> bool {
    response.headers().get("x-hookflow-duplicate").is_some_and(|v| v == "true")
}

/// Every recorded execution of `key` (waits for `expected` of them, up to 10 s).
async fn recorded(app: &TestApp, key: &str, expected: usize) -> Vec<Value> {
    let mut data = Vec::new();
    for _ in 0..200 {
        let listed: Value = app.admin_json(&format!("/api/workflows/{key}/executions?limit=100")).await;
        data = listed["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    data
}

/// Waits until every ingress serves `key` (distributed: a new workflow reaches the other
/// replica by announcement). The workflow has basic authentication, so a call without it is
/// refused with 401 by an ingress that knows the workflow (404 otherwise), running nothing.
async fn served_everywhere(app: &TestApp, key: &str) {
    for base in &app.bases {
        let url = format!("{base}/api/webhook:trigger/{key}");
        let mut served = false;
        for _ in 0..100 {
            let probe = app.client.post(&url).json(&json!({})).send().await;
            if probe.is_ok_and(|response| response.status() == 401) {
                served = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(served, "{base} never served {key}");
    }
}

#[tokio::test]
async fn concurrent_duplicates_start_one_execution() {
    let mut app = spawn_app().await;
    // Distributed: Redis is flushed between the first call and a retry.
    let redis = app.cluster().map(|cluster| (cluster.redis_url().to_owned(), cluster.namespace().to_owned()));
    let mut definition = keyed("idem-async", false, json!([]));
    definition["trigger"]["basicAuthentication"] = json!({"username": "psp", "password": "s3cret"});
    app.create_workflow(definition).await;
    served_everywhere(&app, "idem-async").await;
    let post = |body: Value| {
        app.client.post(app.webhook_url("idem-async")).basic_auth("psp", Some("s3cret")).json(&body).send()
    };
    // Spread over every ingress replica (two in distributed mode).
    let calls = (0..20).map(|i| {
        let url = format!("{}/api/webhook:trigger/idem-async", app.bases[i % app.bases.len()]);
        app.client.post(url).basic_auth("psp", Some("s3cret")).json(&json!({"id": "evt_1", "n": i})).send()
    });
    let responses: Vec<Response> = join_all(calls).await.into_iter().map(Result::unwrap).collect();
    // The first's answer for all, or "retry" for those that came while it was being queued.
    let mut ids = HashSet::new();
    let mut firsts = 0;
    for response in &responses {
        assert!([200, 409].contains(&response.status().as_u16()), "{}", response.status());
        ids.insert(execution_id(response));
        if !is_duplicate(response) {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one call is the first");
    assert_eq!(ids.len(), 1, "every duplicate carries the first's execution id: {ids:?}");
    let first = ids.into_iter().next().unwrap();
    let records = recorded(&app, "idem-async", 1).await;
    assert_eq!(records.len(), 1, "one execution for one key");
    assert_eq!(records[0]["id"], first);
    assert_eq!(records[0]["idempotencyKey"], "evt_1");

    // A later retry, even after a Redis flush, is a duplicate with the trigger's response.
    if let Some((redis_url, namespace)) = redis {
        let client = redis::Client::open(redis_url).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut connection).await.unwrap();
        let retry = post(json!({"id": "evt_1"})).await.unwrap();
        assert_eq!(retry.status(), 200);
        assert!(is_duplicate(&retry));
        assert_eq!(execution_id(&retry), first);
        assert_eq!(retry.text().await.unwrap(), "ok");
        assert_eq!(recorded(&app, "idem-async", 1).await.len(), 1);
        // The database's answer is cached again, so the next retry needs no database read.
        let cached: Vec<String> =
            redis::cmd("KEYS").arg(format!("{namespace}:idem:*")).query_async(&mut connection).await.unwrap();
        assert_eq!(cached.len(), 1, "{cached:?}");
        let again = post(json!({"id": "evt_1"})).await.unwrap();
        assert!(is_duplicate(&again));
        assert_eq!(execution_id(&again), first);
        // An entry planted by whoever can write to Redis is not believed: the call runs.
        let planted =
            format!("{namespace}:idem:{}", hookflow_shared::idempotency::key_hash("idem-async", "evt_9"));
        let forged =
            format!("{} {}", "0".repeat(64), json!({"executionId": first, "mode": "async", "answer": null}));
        let _: () = redis::cmd("SET").arg(&planted).arg(forged).query_async(&mut connection).await.unwrap();
        let fresh = post(json!({"id": "evt_9"})).await.unwrap();
        assert_eq!(fresh.status(), 200);
        assert!(!is_duplicate(&fresh), "a forged cache entry answered a new callback");
        assert_ne!(execution_id(&fresh), first);
        return;
    }
    let retry = post(json!({"id": "evt_1"})).await.unwrap();
    assert!(is_duplicate(&retry));
    assert_eq!(execution_id(&retry), first);
    // Another key runs; no key at all runs every time.
    assert!(!is_duplicate(&post(json!({"id": "evt_2"})).await.unwrap()));
    assert!(!is_duplicate(&post(json!({"n": 1})).await.unwrap()));
    assert!(!is_duplicate(&post(json!({"n": 2})).await.unwrap()));
    assert_eq!(recorded(&app, "idem-async", 4).await.len(), 4);
}

#[tokio::test]
async fn a_sync_duplicate_waits_for_the_first_answer() {
    let mut app = spawn_app_with(Options { hold_workers: true, ..Default::default() }).await;
    app.create_workflow(keyed(
        "idem-sync",
        true,
        json!([{"key": "reply", "type": "response",
                "config": {"statusCode": 201, "headers": [{"name": "X-Paid", "value": "{{$context.body.id}}"}],
                           "body": {"paid": "{{$context.body.id}}"}}}]),
    ))
    .await;
    // The first waits: no worker runs yet.
    let first = tokio::spawn({
        let (client, url) = (app.client.clone(), app.webhook_url("idem-sync"));
        async move { client.post(url).json(&json!({"id": "pay_1"})).send().await.unwrap() }
    });
    // Once the first is waiting for its answer (it holds the key by then), a duplicate comes.
    let mut waiting = false;
    for _ in 0..250 {
        if app.metrics().await.lines().any(|line| line.trim() == "hookflow_sync_inflight 1") {
            waiting = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(waiting, "the first call never started waiting");
    let in_progress = app.post_json("idem-sync", &json!({"id": "pay_1"})).await;
    assert_eq!(in_progress.status(), 409, "a duplicate while the first runs");
    assert!(is_duplicate(&in_progress));
    assert_eq!(in_progress.headers()["retry-after"], "1");
    let first_id_seen = execution_id(&in_progress);
    let body: Value = in_progress.json().await.unwrap();
    assert_eq!(body["error"]["code"], "duplicate_in_progress");

    app.start_workers().await;
    let first = first.await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(!is_duplicate(&first));
    assert_eq!(execution_id(&first), first_id_seen);
    let after = app.post_json("idem-sync", &json!({"id": "pay_1"})).await;
    assert_eq!(after.status(), 201, "the first's answer");
    assert!(is_duplicate(&after));
    assert_eq!(after.headers()["x-paid"], "pay_1");
    assert_eq!(execution_id(&after), first_id_seen);
    assert_eq!(after.json::<Value>().await.unwrap(), json!({"paid": "pay_1"}));
    assert_eq!(recorded(&app, "idem-sync", 1).await.len(), 1);
}

#[tokio::test]
async fn a_first_run_not_answered_2xx_lets_the_retry_run() {
    let app = spawn_app().await;
    app.create_workflow(keyed(
        "idem-retry",
        true,
        json!([{"key": "ok", "type": "condition",
                "config": {"rejectOnFalse": false, "calculation": {"group": {"type": "and", "calculations": [
                    {"calculator": "equal", "operands": ["{{$context.body.ready}}", true]}]}}},
                "branches": {
                    "true": [{"key": "done", "type": "response", "config": {"statusCode": 200, "body": "booked"}}],
                    "false": [{"key": "later", "type": "response", "config": {"statusCode": 503, "body": "retry"}}]}}]),
    ))
    .await;
    let refused = app.post_json("idem-retry", &json!({"id": "pay_2", "ready": false})).await;
    assert_eq!(refused.status(), 503);
    let retried = app.post_json("idem-retry", &json!({"id": "pay_2", "ready": true})).await;
    assert_eq!(retried.status(), 200);
    assert!(!is_duplicate(&retried), "the retry ran");
    assert_eq!(retried.text().await.unwrap(), "booked");
    let again = app.post_json("idem-retry", &json!({"id": "pay_2", "ready": false})).await;
    assert_eq!(again.status(), 200, "now the key holds the 2xx answer");
    assert!(is_duplicate(&again));
    assert_eq!(recorded(&app, "idem-retry", 2).await.len(), 2);
}

#[tokio::test]
async fn bad_idempotency_settings_are_refused_at_save() {
    let app = spawn_app().await;
    for (settings, path) in [
        (json!(true), "trigger.idempotency"),
        (json!({"from": "header", "key": "x y"}), "trigger.idempotency.key"),
        (json!({"from": "body", "key": "id", "ttl": 0}), "trigger.idempotency.ttl"),
    ] {
        let mut definition = workflow("idem-bad", false, json!([]));
        definition["trigger"]["idempotency"] = settings.clone();
        let response = app.admin(Method::POST, "/api/workflows").json(&definition).send().await.unwrap();
        assert_eq!(response.status(), 422, "{settings}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["problems"][0]["path"], path, "{settings}");
    }
    // `true` takes the delivery id of a preset that has one.
    let mut definition = workflow("idem-github", false, json!([]));
    definition["trigger"]["signature"] = json!({"preset": "github", "secrets": ["s3cret"]});
    definition["trigger"]["idempotency"] = json!(true);
    app.create_workflow(definition).await;
}
