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

/// After real traffic, every metric of the contract (SPEC §10) is exposed with its labels, and
/// the counts match what was sent. `HOOKFLOW_METRICS_DUMP_DIR`, when set, receives the scraped
/// texts (`ingress.prom`, `worker-N.prom`) for the checks of `deploy/`.
#[tokio::test]
async fn metrics_cover_the_contract_and_count_the_traffic() {
    use hookflow_tests::metrics::Scraped;

    let mut app = spawn_app().await;
    let calculation =
        json!({"key": "double", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}});
    app.create_workflow(hookflow_tests::workflow("m-async", false, json!([calculation]))).await;
    app.create_workflow(hookflow_tests::workflow(
        "m-sync",
        true,
        json!([calculation, {"key": "r", "type": "response", "config": {"statusCode": 201, "body": "ok"}}]),
    ))
    .await;
    let mut keyed = hookflow_tests::workflow("m-keyed", false, json!([calculation]));
    keyed["trigger"]["idempotency"] = json!({"from": "body", "key": "id"});
    app.create_workflow(keyed).await;

    for n in 0..4 {
        assert_eq!(app.post_json("m-async", &json!({"n": n})).await.status(), 200);
    }
    for n in 0..3 {
        assert_eq!(app.post_json("m-sync", &json!({"n": n})).await.status(), 201);
    }
    for _ in 0..3 {
        assert_eq!(app.post_json("m-keyed", &json!({"id": "pay-1", "n": 1})).await.status(), 200);
    }
    assert_eq!(app.post_json("m-missing", &json!({})).await.status(), 404);

    // The workers' registries: their own processes, or the ingress's own in embedded mode.
    let worker_bases: Vec<String> = match app.cluster() {
        Some(cluster) => cluster.workers.iter().map(|w| w.metrics.clone()).collect(),
        None => vec![app.metrics_base.clone()],
    };
    let queue_label = app.cluster().map(|cluster| format!("{}.executions.sync", cluster.namespace()));
    let scrape = |base: String| {
        let client = app.client.clone();
        async move {
            Scraped::parse(&client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap())
        }
    };
    let sum = |scrapes: &[Scraped], name: &str, labels: &[(&str, &str)]| -> f64 {
        scrapes.iter().map(|s| s.value(name, labels)).sum()
    };
    // Executions are counted once recorded; queue depths are read every few seconds.
    let mut workers = Vec::new();
    for _ in 0..200 {
        workers = futures_util::future::join_all(worker_bases.iter().cloned().map(scrape)).await;
        let counted = sum(&workers, "hookflow_executions_total", &[]);
        let depth_read = queue_label.as_ref().is_none_or(|queue| {
            workers.iter().all(|w| w.label_names("hookflow_queue_messages").contains("queue"))
                && workers.iter().any(|w| w.text().contains(queue.as_str()))
        });
        if counted >= 8.0 && depth_read {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ingress = scrape(app.metrics_base.clone()).await;

    let requests = "hookflow_webhook_requests_total";
    let labels: Vec<&str> = vec!["code", "mode", "workflow"];
    assert_eq!(ingress.label_names(requests).iter().map(String::as_str).collect::<Vec<_>>(), labels);
    assert_eq!(ingress.value(requests, &[("workflow", "m-async"), ("mode", "async"), ("code", "200")]), 4.0);
    assert_eq!(ingress.value(requests, &[("workflow", "m-sync"), ("mode", "sync"), ("code", "201")]), 3.0);
    assert_eq!(ingress.value(requests, &[("workflow", "m-keyed"), ("mode", "async"), ("code", "200")]), 3.0);
    assert_eq!(ingress.value(requests, &[("workflow", ""), ("code", "404")]), 1.0);
    assert_eq!(ingress.value("hookflow_webhook_duplicates_total", &[("workflow", "m-keyed")]), 2.0);
    let durations = "hookflow_webhook_request_duration_seconds";
    assert!(ingress.has(durations));
    assert_eq!(ingress.value(&format!("{durations}_count"), &[("mode", "async")]), 7.0);
    assert_eq!(ingress.value(&format!("{durations}_count"), &[("mode", "sync")]), 3.0);
    assert_eq!(
        ingress.value("hookflow_queue_publish_duration_seconds_count", &[]),
        8.0,
        "duplicates are not queued"
    );
    assert_eq!(ingress.value("hookflow_sync_inflight", &[]), 0.0);
    assert!(ingress.text().contains("hookflow_sync_timeouts_total 0"), "{}", ingress.text());

    let ingress_dependencies: &[&str] =
        if hookflow_tests::distributed() { &["broker", "database", "redis"] } else { &["database"] };
    for dependency in ingress_dependencies {
        assert_eq!(
            ingress.value("hookflow_dependency_up", &[("dependency", dependency)]),
            1.0,
            "{dependency}"
        );
    }
    for scraped in workers.iter().chain([&ingress]) {
        assert!(scraped.value("process_resident_memory_bytes", &[]) > 0.0, "{}", scraped.text());
        assert!(scraped.has("process_cpu_seconds_total"));
        assert!(scraped.has("process_open_fds"));
    }

    assert_eq!(
        sum(&workers, "hookflow_executions_total", &[("workflow", "m-async"), ("status", "resolved")]),
        4.0
    );
    assert_eq!(
        sum(&workers, "hookflow_executions_total", &[("workflow", "m-sync"), ("status", "resolved")]),
        3.0
    );
    assert_eq!(
        sum(&workers, "hookflow_executions_total", &[("workflow", "m-keyed"), ("status", "resolved")]),
        1.0
    );
    assert_eq!(sum(&workers, "hookflow_execution_duration_seconds_count", &[]), 8.0);
    assert_eq!(sum(&workers, "hookflow_node_duration_seconds_count", &[("type", "calculation")]), 8.0);
    assert_eq!(sum(&workers, "hookflow_node_duration_seconds_count", &[("type", "response")]), 3.0);
    assert!(workers.iter().all(|w| w.has("hookflow_executions_dead_lettered_total")));
    assert_eq!(sum(&workers, "hookflow_executions_dead_lettered_total", &[]), 0.0);
    if let Some(queue) = &queue_label {
        for worker in &workers {
            for dependency in ["broker", "database", "redis"] {
                assert_eq!(
                    worker.value("hookflow_dependency_up", &[("dependency", dependency)]),
                    1.0,
                    "{dependency}"
                );
            }
            assert!(
                worker.text().contains(&format!("hookflow_queue_messages{{queue=\"{queue}\"}}")),
                "{}",
                worker.text()
            );
            assert_eq!(worker.value("hookflow_messages_rejected_total", &[("kind", "envelope")]), 0.0);
            assert!(worker.has("hookflow_messages_rejected_total"));
        }
        assert!(ingress.has("hookflow_messages_rejected_total"));
    }

    if let Some(dir) = std::env::var_os("HOOKFLOW_METRICS_DUMP_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ingress.prom"), ingress.text()).unwrap();
        // Each worker ran some of the executions: together they expose every series.
        for (i, worker) in workers.iter().enumerate() {
            std::fs::write(dir.join(format!("worker-{}.prom", i + 1)), worker.text()).unwrap();
        }
    }
}
