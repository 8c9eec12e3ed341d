//! Embedded mode only: async webhooks answered 2xx survive the process stopping before their
//! executions ran.

use std::time::Duration;

use hookflow_ingress::Application;
use hookflow_shared::config::Config;
use serde_json::{json, Value};

/// The admin token of both runs.
const TOKEN: &str = "embedded-test-token";

fn config(database_url: &str) -> Config {
    Config::from_pairs([
        ("listen", "127.0.0.1:0"),
        ("metrics_listen", "127.0.0.1:0"),
        ("database_url", database_url),
        ("admin_token", TOKEN),
        ("log", "warn"),
    ])
    .unwrap()
}

/// Accepts async webhooks with the workers held back, then drops the whole runtime — the
/// in-memory queue with it, as a crash would — and returns the ids answered 2xx.
fn accept_then_crash(database_url: String) -> Vec<String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let mut application = Application::build(config(&database_url)).await.unwrap();
            let _held = application.hold_workers().expect("embedded workers");
            let base = format!("http://127.0.0.1:{}", application.port());
            tokio::spawn(application.run_until_stopped());
            let client = reqwest::Client::new();
            let created = client
                .post(format!("{base}/api/workflows"))
                .bearer_auth(TOKEN)
                .json(&json!({"key": "journaled", "trigger": {"type": "webhook"}, "nodes": [
                    {"key": "double", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(created.status(), 201);
            let mut ids = Vec::new();
            for n in 0..20 {
                let response = client
                    .post(format!("{base}/api/webhook:trigger/journaled"))
                    .json(&json!({"n": n}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                ids.push(hookflow_tests::execution_id(&response));
            }
            ids
        })
        // The runtime is dropped here with the executions still queued in memory.
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn async_executions_answered_before_a_crash_run_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("hookflow.db").display());
    let accepted = accept_then_crash(database_url.clone());

    let application = Application::build(config(&database_url)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();
    for id in &accepted {
        let mut execution = Value::Null;
        for _ in 0..200 {
            let response =
                client.get(format!("{base}/api/executions/{id}")).bearer_auth(TOKEN).send().await.unwrap();
            if response.status() == 200 {
                execution = response.json().await.unwrap();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(execution["status"], "resolved", "execution {id} was lost: {execution}");
        assert_eq!(execution["attempts"], 2, "it ran after the restart, as a redelivery");
        assert!(execution["jobs"][0]["result"].is_number());
    }
    let storage = hookflow_shared::storage::Storage::connect(&database_url).await.unwrap();
    for _ in 0..100 {
        if storage.pending().await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("recorded executions were left in the journal");
}
