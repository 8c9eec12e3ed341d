//! Embedded mode only: async webhooks answered 2xx survive the process stopping before their
//! executions ran; the real binary stopped with SIGTERM keeps every call it answered 2xx, and
//! logs each execution's lines under its span. The binary tests are `#[ignore]`d in a plain
//! `cargo test` (they need `cargo build --workspace --bins` first); `scripts/test.sh` runs them.

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
            tokio::spawn(application.run(tokio_util::sync::CancellationToken::new()));
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
    tokio::spawn(application.run(tokio_util::sync::CancellationToken::new()));
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

/// The real binary, embedded, stopped with SIGTERM in the middle of a burst of async and sync
/// calls: it exits by itself, every sync caller it held got an answer, and after a restart every
/// call answered 2xx is recorded.
#[tokio::test]
#[ignore = "runs the ingress binary (cargo build --workspace --bins first); scripts/test.sh runs it"]
async fn a_terminated_process_keeps_every_call_it_answered_2xx() {
    use futures_util::StreamExt;
    use hookflow_tests::cluster::{Process, INGRESS_LISTENING, INGRESS_METRICS};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const CALLS: usize = 1200;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("hookflow.db").display());
    let env: Vec<(String, String)> = [
        ("HOOKFLOW_DATABASE_URL", database_url.as_str()),
        ("HOOKFLOW_ADMIN_TOKEN", TOKEN),
        ("HOOKFLOW_LOG", "info"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let spawn =
        |name: &str| Process::spawn("ingress", name, &env, dir.path(), (INGRESS_LISTENING, INGRESS_METRICS));
    let ready_within = || std::time::Instant::now() + Duration::from_secs(30);

    let mut first = spawn("first");
    first.wait_ready(&client, ready_within()).await;
    for (key, sync, nodes) in [
        (
            "burst",
            false,
            json!([{"key": "double", "type": "calculation", "config": {"expression": "{{$context.body.n}} * 2"}}]),
        ),
        (
            "answer",
            true,
            json!([{"key": "r", "type": "response", "config": {"statusCode": 201, "body": {"n": "{{$context.body.n}}"}}}]),
        ),
    ] {
        let created = client
            .post(format!("{}/api/workflows", first.base))
            .bearer_auth(TOKEN)
            .json(&json!({"key": key, "sync": sync, "trigger": {"type": "webhook"}, "nodes": nodes}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let base = first.base.clone();
    let answered = Arc::new(AtomicUsize::new(0));
    let burst = tokio::spawn({
        let (client, answered) = (client.clone(), answered.clone());
        futures_util::stream::iter(0..CALLS)
            .map(move |n| {
                let (client, base, answered) = (client.clone(), base.clone(), answered.clone());
                // Every fourth call is sync.
                let key = if n % 4 == 0 { "answer" } else { "burst" };
                async move {
                    let sent = client
                        .post(format!("{base}/api/webhook:trigger/{key}"))
                        .json(&json!({"n": n}))
                        .send()
                        .await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    // Refused once the listener closed, or sent on a kept-alive connection the
                    // server closed after its last answer: never read, never answered.
                    let response = sent.ok()?;
                    let status = response.status().as_u16();
                    let id = response.headers().get("x-hookflow-execution-id")?.to_str().ok()?.to_owned();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    Some((n, key, status, id, body))
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
    });
    while answered.load(Ordering::SeqCst) < CALLS / 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stopped = std::time::Instant::now();
    let (exited, first) =
        tokio::task::spawn_blocking(move || (first.terminate(Duration::from_secs(45)), first)).await.unwrap();
    assert!(exited, "the process did not exit within 45 s of SIGTERM:\n{}", first.log_text());
    let took = stopped.elapsed();
    let calls = burst.await.unwrap();
    let accepted: Vec<_> =
        calls.iter().flatten().filter(|(_, _, status, _, _)| (200..300).contains(status)).collect();
    for (n, key, status, _, body) in calls.iter().flatten() {
        if *key == "answer" && (200..300).contains(status) {
            assert_eq!((*status, &body["n"]), (201, &json!(n)), "call {n}: the reply of its own execution");
        }
    }

    let second = {
        let mut second = spawn("second");
        second.wait_ready(&client, ready_within()).await;
        second
    };
    let mut missing = Vec::new();
    for (n, key, _, id, _) in &accepted {
        let mut found = Value::Null;
        for _ in 0..200 {
            let response = client
                .get(format!("{}/api/executions/{id}", second.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                found = response.json().await.unwrap();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if found["status"] != "resolved" {
            missing.push(format!("{key} {n} ({id}): {found}"));
        }
    }
    // Nothing ran that was not answered: a call cut off by the stop was never read.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    let count =
        sea_orm::Statement::from_string(db.get_database_backend(), "SELECT count(*) AS n FROM executions");
    let row = db.query_one(count).await.unwrap().unwrap();
    let recorded: i64 = row.try_get("", "n").unwrap();
    assert_eq!(
        usize::try_from(recorded).unwrap(),
        accepted.len(),
        "executions recorded without a 2xx answer"
    );
    let sync_accepted = accepted.iter().filter(|(_, key, ..)| *key == "answer").count();
    println!(
        "figure: SIGTERM to exit {took:?}; {} of {CALLS} calls answered 2xx ({sync_accepted} sync), all recorded after the restart",
        accepted.len()
    );
    assert!(
        missing.is_empty(),
        "answered 2xx but not recorded:\n{}\n{}",
        missing.join("\n"),
        first.log_text()
    );
    assert!(accepted.len() >= CALLS / 3, "the burst was stopped early: {}", accepted.len());
}

/// `HOOKFLOW_LOG_FORMAT=json`: every line logged while an execution is handled carries its
/// `execution_id` and `workflow` (the execution's span), whether it resolved or failed.
#[tokio::test]
#[ignore = "runs the ingress binary (cargo build --workspace --bins first); scripts/test.sh runs it"]
async fn json_logs_name_the_execution_on_every_line() {
    use hookflow_tests::cluster::{Process, INGRESS_LISTENING, INGRESS_METRICS};

    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("hookflow.db").display());
    let env: Vec<(String, String)> = [
        ("HOOKFLOW_DATABASE_URL", database_url.as_str()),
        ("HOOKFLOW_ADMIN_TOKEN", TOKEN),
        ("HOOKFLOW_LOG", "info,hookflow_worker=debug"),
        ("HOOKFLOW_LOG_FORMAT", "json"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let client = reqwest::Client::new();
    let mut process =
        Process::spawn("ingress", "json", &env, dir.path(), (INGRESS_LISTENING, INGRESS_METRICS));
    process.wait_ready(&client, std::time::Instant::now() + Duration::from_secs(30)).await;
    let created = client
        .post(format!("{}/api/workflows", process.base))
        .bearer_auth(TOKEN)
        .json(&json!({"key": "logged", "sync": true, "trigger": {"type": "webhook"}, "nodes": [
            {"key": "c", "type": "calculation", "config": {"expression": "10 / {{$context.body.d}}"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut ids = Vec::new();
    for divisor in [2, 0] {
        let response = client
            .post(format!("{}/api/webhook:trigger/logged", process.base))
            .json(&json!({"d": divisor}))
            .send()
            .await
            .unwrap();
        ids.push(hookflow_tests::execution_id(&response));
    }

    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..100 {
        lines = process.log_text().lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
        let finished = lines.iter().filter(|line| line["fields"]["message"] == "execution finished").count();
        if finished >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in &ids {
        let of_execution: Vec<&Value> =
            lines.iter().filter(|line| line["span"]["execution_id"] == *id).collect();
        assert!(
            of_execution.iter().any(|line| line["fields"]["message"] == "execution finished"),
            "no line of {id} says it finished:\n{}",
            process.log_text()
        );
        for line in &of_execution {
            assert_eq!(line["span"]["workflow"], "logged", "{line}");
            assert_eq!(line["span"]["name"], "execution", "{line}");
        }
    }
    let failed = &ids[1];
    assert!(
        lines.iter().any(|line| line["span"]["execution_id"] == *failed
            && line["fields"]["message"] == "execution did not resolve"),
        "the failed execution's line carries its id:\n{}",
        process.log_text()
    );
}
