//! Process-level behaviour: health, metrics (on their own listener), workflow files at start.

use hookflow_tests::{execution_id, spawn_app, spawn_app_with, Options};
use serde_json::{json, Value};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["dependencies"]["database"], "ok", "{health}");
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"hookflow_dependency_up{dependency="database"} 1"#), "{metrics}");
    if hookflow_tests::distributed() {
        // The broker gates an ingress's readiness; Redis and the database are shown.
        for dependency in ["broker", "redis"] {
            assert_eq!(ready[dependency], "ok", "{ready}");
            let up = format!(r#"hookflow_dependency_up{{dependency="{dependency}"}} 1"#);
            assert!(metrics.contains(&up), "{metrics}");
        }
    }
    // The process collector, on both binaries.
    assert!(metrics.contains("process_resident_memory_bytes"), "{metrics}");
    assert!(metrics.contains("process_cpu_seconds_total"), "{metrics}");
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let app = spawn_app().await;
    let on_webhook_port = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(on_webhook_port.status(), 404);
    let body: Value = on_webhook_port.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    let metrics = app.client.get(format!("{}/metrics", app.metrics_base)).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    assert!(text.contains("hookflow_sync_inflight"), "{text}");
    // Probes answer on both listeners.
    for base in [&app.base, &app.metrics_base] {
        let ready = app.client.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{base}");
        assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready", "{base}");
        let health = app.client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{base}");
    }
}

#[tokio::test]
async fn metrics_count_webhook_calls() {
    let app = spawn_app().await;
    app.create_workflow(hookflow_tests::workflow("counted", false, json!([]))).await;
    let id = execution_id(&app.post_json("counted", &json!({})).await);
    app.post_json("not-there", &json!({})).await;
    app.execution(&id).await;
    let text = app.metrics().await;
    assert!(
        text.contains(r#"hookflow_webhook_requests_total{code="200",mode="async",workflow="counted"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"hookflow_webhook_requests_total{code="404",mode="",workflow=""} 1"#), "{text}");
    assert!(text.contains("hookflow_webhook_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("hookflow_queue_publish_duration_seconds_count 1"), "{text}");
    assert!(text.contains(r#"hookflow_executions_total{status="resolved",workflow="counted"} 1"#), "{text}");
    assert!(text.contains("hookflow_sync_inflight 0"), "{text}");
}

#[tokio::test]
async fn workflow_files_are_applied_at_start() {
    let yaml = r#"
key: from-yaml
sync: true
trigger:
  type: webhook
nodes:
  - key: answer
    type: response
    config:
      statusCode: 200
      body:
        source: yaml
        n: "{{$context.body.n}}"
"#;
    let json_file =
        json!({"key": "from-json", "trigger": {"type": "webhook", "response": {"body": "json-ok"}}})
            .to_string();
    let app = spawn_app_with(Options {
        workflow_files: vec![("a.yaml", yaml.into()), ("b.json", json_file), ("notes.txt", "ignored".into())],
        ..Default::default()
    })
    .await;
    let response = app.post_json("from-yaml", &json!({"n": 3})).await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"source": "yaml", "n": 3}));
    let response = app.post_json("from-json", &json!({})).await;
    assert_eq!(response.text().await.unwrap(), "json-ok");
}

#[tokio::test]
async fn an_invalid_workflow_file_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"key": "bad-one", "trigger": {"type": "webhook"}, "nodes": [{"key": "x", "type": "warp"}]}"#,
    )
    .unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display());
    let config = hookflow_shared::config::Config::from_pairs([
        ("listen", "127.0.0.1:0"),
        ("metrics_listen", "127.0.0.1:0"),
        ("database_url", database.as_str()),
        ("workflows_dir", dir.path().to_str().unwrap()),
    ])
    .unwrap();
    let error = hookflow_ingress::Application::build(config).await.err().expect("start must fail");
    let text = format!("{error:#}");
    assert!(text.contains("bad.json") && text.contains("nodes[0].type"), "{text}");
}

#[tokio::test]
async fn the_example_workflows_answer_as_the_readme_says() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workflows");
    let read = |name: &str| std::fs::read_to_string(examples.join(name)).expect("example workflow");
    let app = spawn_app_with(Options {
        workflow_files: vec![
            ("payment-callback.json", read("payment-callback.json")),
            ("order-events.json", read("order-events.json")),
        ],
        ..Default::default()
    })
    .await;
    let url = app.webhook_url("payment-callback");
    let paid = json!({"data": {"orderId": "A1", "status": "paid", "amount": 42}});
    let response = app.client.post(&url).basic_auth("psp", Some("s3cret")).json(&paid).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-order-id"], "A1");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": true, "orderId": "A1", "amount": 42}));
    let open = json!({"data": {"orderId": "A2", "status": "open", "amount": 42}});
    let response = app.client.post(&url).basic_auth("psp", Some("s3cret")).json(&open).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"ok": false, "orderId": "A2", "status": "open"})
    );
    assert_eq!(app.client.post(&url).json(&paid).send().await.unwrap().status(), 401);

    let response = app
        .client
        .post(format!("{}?source=shop", app.webhook_url("order-events")))
        .json(&json!({"orderId": "B2", "quantity": 3, "unitPrice": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-accepted-by"], "hookflow");
    let id = execution_id(&response);
    let execution = app.execution(&id).await;
    assert_eq!(execution["status"], "resolved");
    let results: Vec<Value> =
        execution["jobs"].as_array().unwrap().iter().map(|j| j["result"].clone()).collect();
    assert_eq!(results, vec![json!(1500), json!(true), json!("large order B2")]);
}
