//! Hardening, end to end: what a careless or hostile caller can send without taking Hookflow
//! down or tying it up.
//!
//! - Expressions past the size limits of `shared::expression` are refused when the workflow is
//!   saved (SPEC §3: 422 with `{path, message}` problems), so they never reach a worker.
//! - An expression that fails at run time — including the inputs that used to panic inside
//!   evalexpr (a byte offset inside a character, a shift by 64) — ends its execution `error`
//!   with a prompt 500 `execution_failed` (SPEC §4, §7), and the service keeps answering.
//! - Webhook callers past `HOOKFLOW_MAX_INFLIGHT` (held sync callers included) get 503 with
//!   `Retry-After` at once instead of queueing (SPEC §2, §4); the held ones still get their
//!   answers.
//! - A declared body over `HOOKFLOW_MAX_BODY_BYTES` gets 413 from the headers alone, and a
//!   caller without basic auth credentials gets 401 before its body is read, in SPEC §4's order
//!   (413 before 401).

use std::time::{Duration, Instant};

use hookflow_tests::{distributed, execution_id, spawn_app, spawn_app_with, workflow, Options, TestApp};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// Far below the 30 s sync timeout: a failing execution is answered when it fails, not when
/// the caller gives up on it.
const PROMPT: Duration = Duration::from_secs(5);

/// POSTs a workflow definition without asserting success.
async fn save(app: &TestApp, definition: &Value) -> reqwest::Response {
    app.admin(Method::POST, "/api/workflows").json(definition).send().await.unwrap()
}

/// A sync workflow that computes `expression` in a node `key` and answers with its value.
fn computing(workflow_key: &str, key: &str, expression: &str) -> Value {
    workflow(
        workflow_key,
        true,
        json!([
            {"key": key, "type": "calculation", "config": {"expression": expression}},
            {"key": "reply", "type": "response",
             "config": {"body": {"value": format!("{{{{$jobsMapByNodeKey.{key}}}}}")}}}
        ]),
    )
}

/// POSTs `body` and checks the answer is a prompt 500 `execution_failed` whose record is
/// `error` with a reason naming `node`. Returns the execution record.
async fn assert_fails_promptly(app: &TestApp, key: &str, body: &Value, node: &str) -> Value {
    let started = Instant::now();
    let response = app.post_json(key, body).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 500, "{key}");
    assert!(elapsed < PROMPT, "{key}: the 500 took {elapsed:?}");
    let id = execution_id(&response);
    let answer: Value = response.json().await.unwrap();
    // No internal detail in the answer: the reason is in the record, for the operator.
    assert_eq!(answer, json!({"error": {"code": "execution_failed", "executionId": id}}), "{key}");
    let execution = app.execution(&id).await;
    assert_eq!(execution["status"], "error", "{key}: {execution}");
    let reason = execution["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("node {node}")), "{key}: reason {reason:?}");
    let job = &execution["jobs"][0];
    assert_eq!(job["nodeKey"], node, "{key}");
    assert_eq!(job["status"], "error", "{key}");
    assert!(job["result"]["error"].as_str().unwrap_or_default().contains("expression"), "{key}: {job}");
    execution
}

#[tokio::test]
async fn long_expressions_are_refused_at_save() {
    let app = spawn_app().await;
    // (expression, the limit its problem must name). The two long chains are over the byte
    // limit (4,000 terms are 7,999 bytes); the short ones stay under it and show the other
    // two limits, which guard evalexpr's recursion.
    let chain = |terms: usize| vec!["1"; terms].join("+");
    let cases = [
        (chain(4_000), "4096 bytes"),
        (chain(10_000), "4096 bytes"),
        (chain(300), "256 operators"),
        (format!("{}1{}", "(".repeat(40), ")".repeat(40)), "nested deeper than 32"),
    ];
    for (i, (expression, limit)) in cases.iter().enumerate() {
        let key = format!("too-long-{i}");
        let definition = workflow(
            &key,
            true,
            json!([
                {"key": "first", "type": "calculation", "config": {"expression": "1 + 1"}},
                {"key": "sum", "type": "calculation", "config": {"expression": expression}}
            ]),
        );
        let started = Instant::now();
        let response = save(&app, &definition).await;
        assert_eq!(response.status(), 422, "{limit}");
        assert!(started.elapsed() < PROMPT, "refusing took {:?}", started.elapsed());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed", "{body}");
        let problems = body["error"]["problems"].as_array().expect("problems");
        // Only the long expression is wrong, and the problem says where and which limit.
        assert_eq!(problems.len(), 1, "{body}");
        assert_eq!(problems[0]["path"], "nodes[1].config.expression", "{body}");
        let message = problems[0]["message"].as_str().unwrap();
        assert!(message.contains(limit), "{limit}: {message}");
        // Nothing was saved.
        let saved = app.admin(Method::GET, &format!("/api/workflows/{key}")).send().await.unwrap();
        assert_eq!(saved.status(), 404);
        assert_eq!(app.post_json(&key, &json!({})).await.status(), 404);
    }

    // The service is unharmed: a normal workflow is saved and runs.
    app.create_workflow(computing("plain-sum", "sum", "{{$context.body.n}} + 1")).await;
    let response = app.post_json("plain-sum", &json!({"n": 41})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"value": 42}));
}

#[tokio::test]
async fn an_expression_that_fails_at_run_time_is_recorded_error() {
    let app = spawn_app().await;
    // Valid when saved: whether `* 2` works depends on the data the caller sends.
    app.create_workflow(workflow(
        "doubles",
        true,
        json!([
            {"key": "boom", "type": "calculation", "config": {"expression": "{{$context.body.s}} * 2"}},
            {"key": "never", "type": "calculation", "config": {"expression": "1"}}
        ]),
    ))
    .await;
    let execution = assert_fails_promptly(&app, "doubles", &json!({"s": "x"}), "boom").await;
    // The failing node stops the execution: the node after it never runs.
    assert_eq!(execution["jobs"].as_array().unwrap().len(), 1, "{execution}");

    // The same workflow with data it can use still resolves.
    let response = app.post_json("doubles", &json!({"s": 21})).await;
    assert_eq!(response.status(), 200);
    let id = execution_id(&response);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"executionId": id, "status": "resolved"}));
    let execution = app.execution(&id).await;
    assert_eq!(execution["jobs"][0]["result"], 42);
}

#[tokio::test]
async fn inputs_that_used_to_panic_give_500_and_a_record() {
    let mut app = spawn_app().await;
    app.create_workflow(computing("cuts", "cut", "str::substring({{$context.body.word}}, 1, 2)")).await;
    app.create_workflow(computing("shifts", "shift", "shl(1, {{$context.body.n}})")).await;

    // Byte 1 of "é-caf" is inside "é" (two bytes): slicing there panics in plain Rust.
    assert_fails_promptly(&app, "cuts", &json!({"word": "é-caf"}), "cut").await;
    // `1 << 64` overflows: in plain Rust a panic in debug builds, a wrong answer in release.
    assert_fails_promptly(&app, "shifts", &json!({"n": 64}), "shift").await;
    // A negative shift is refused the same way.
    assert_fails_promptly(&app, "shifts", &json!({"n": -1}), "shift").await;

    // Nothing died: several normal calls (spread over the workers) get their answers.
    for _ in 0..4 {
        let cut = app.post_json("cuts", &json!({"word": "cafe"})).await;
        assert_eq!(cut.status(), 200);
        assert_eq!(cut.json::<Value>().await.unwrap(), json!({"value": "a"}));
        let shifted = app.post_json("shifts", &json!({"n": 10})).await;
        assert_eq!(shifted.status(), 200);
        assert_eq!(shifted.json::<Value>().await.unwrap(), json!({"value": 1024}));
    }
    // In distributed mode, every process is still up (a dead worker would be hidden by the
    // live one above).
    let client = app.client.clone();
    if let Some(cluster) = app.cluster() {
        for base in cluster.metrics_bases() {
            let health = client.get(format!("{base}/healthz")).send().await;
            assert!(health.is_ok_and(|r| r.status() == 200), "{base}/healthz");
        }
    }
}

/// What one caller of [`held_sync_callers_past_the_cap_get_503`] got.
struct Answer {
    n: usize,
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_sync_callers_past_the_cap_get_503() {
    const CAP: usize = 500;
    const CALLERS: usize = 2_000;
    let started = Instant::now();
    let mut app = spawn_app_with(Options {
        settings: vec![("max_inflight", CAP.to_string())],
        hold_workers: true,
        ..Default::default()
    })
    .await;
    app.create_workflow(workflow(
        "held",
        true,
        json!([{"key": "ok", "type": "response", "config": {"body": {"n": "{{$context.body.n}}"}}}]),
    ))
    .await;

    // A client of its own: connections are not limited per host, and its timeout is longer
    // than the 30 s sync timeout, so a held caller is answered by Hookflow, not cut off here.
    let client = Client::builder().timeout(Duration::from_secs(50)).build().unwrap();
    let url = app.webhook_url("held");
    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..CALLERS {
        let (client, url, sender) = (client.clone(), url.clone(), sender.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let answer = match client.post(&url).json(&json!({"n": n})).send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap_or_default().to_owned());
                    let body = response.json::<Value>().await.unwrap_or(Value::Null);
                    Ok(Answer { n, status, retry_after, body, took: sent.elapsed() })
                }
                Err(error) => Err(format!("caller {n}: {error}")),
            };
            let _ = sender.send(answer);
        });
    }
    drop(sender);

    // With the workers held, no admitted caller can be answered: everything that comes back
    // now was refused at the door. Once the refusals stop (at least CALLERS - CAP of them),
    // the workers are started, well within the held callers' 30 s.
    let mut early = Vec::new();
    let refusals_by = Instant::now() + Duration::from_secs(20);
    loop {
        let quiet =
            if early.len() >= CALLERS - CAP { Duration::from_millis(500) } else { Duration::from_secs(1) };
        match tokio::time::timeout(quiet, answers.recv()).await {
            Ok(Some(answer)) => early.push(answer),
            Ok(None) => break,
            Err(_) if early.len() >= CALLERS - CAP || Instant::now() > refusals_by => break,
            Err(_) => {}
        }
    }
    let refused_at = started.elapsed();
    // With every place taken by a held caller, one more caller at a time is refused at once:
    // the refusal waits for nothing. (The burst's latencies, checked below, include the time
    // the whole burst takes to get through the machine's cores.)
    let mut probes = Vec::new();
    for _ in 0..20 {
        let sent = Instant::now();
        let response = client.post(&url).json(&json!({"n": "probe"})).send().await.unwrap();
        let took = sent.elapsed();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "overloaded");
        probes.push(took);
    }
    let slowest_probe = probes.iter().max().copied().unwrap_or_default();
    assert!(slowest_probe < Duration::from_secs(1), "a 503 on a full ingress took {slowest_probe:?}");
    app.start_workers().await;
    let mut late = Vec::new();
    let answered_by = tokio::time::Instant::now() + Duration::from_secs(40);
    while let Ok(Some(answer)) = tokio::time::timeout_at(answered_by, answers.recv()).await {
        late.push(answer);
    }

    let errors: Vec<&String> = early.iter().chain(&late).filter_map(|a| a.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} callers got no answer, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    let early: Vec<Answer> = early.into_iter().map(Result::unwrap).collect();
    let late: Vec<Answer> = late.into_iter().map(Result::unwrap).collect();
    assert_eq!(early.len() + late.len(), CALLERS, "every caller is answered");

    // Every early answer is a refusal for being over the cap. They all came while no place
    // could free up (no worker ran yet), so none waited for one; the bound only catches a
    // refusal that queued for a long time (a held caller waits up to the 30 s sync timeout).
    for answer in &early {
        assert_eq!(answer.status, 503, "caller {}: {}", answer.n, answer.body);
        assert_eq!(answer.retry_after.as_deref(), Some("1"), "caller {}", answer.n);
        assert_eq!(answer.body["error"]["code"], "overloaded", "caller {}: {}", answer.n, answer.body);
        assert!(
            answer.took < Duration::from_secs(10),
            "caller {} waited {:?} for its 503",
            answer.n,
            answer.took
        );
    }
    // The held ones get their Response node's answer once the workers run.
    for answer in &late {
        assert_eq!(answer.status, 200, "held caller {}: {}", answer.n, answer.body);
        assert_eq!(answer.body, json!({"n": answer.n}));
    }
    let (rejected, held) = (early.len(), late.len());
    assert!(held <= CAP, "{held} callers were held, more than the cap of {CAP}");
    assert!(rejected >= CALLERS - CAP - 100, "only {rejected} callers were refused");
    let slowest = early.iter().map(|a| a.took).max().unwrap_or_default();
    eprintln!(
        "held_sync_callers_past_the_cap_get_503 ({}): {rejected} refused (slowest 503 in the burst \
         {slowest:?}, of a probe {slowest_probe:?}), {held} held; refusals done at {refused_at:?}, \
         all answered at {:?}",
        if distributed() { "distributed" } else { "embedded" },
        started.elapsed()
    );

    // The held callers' places were given back: a new caller is admitted and answered.
    let response = app.post_json("held", &json!({"n": -1})).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

/// Sends `head` (request line and headers) and `body` on a connection of its own, and reads
/// the answer's head and body (by its Content-Length). The body may be cut short by the server
/// answering first, which is allowed: that is what is being tested.
async fn raw_exchange(base: &str, head: &str, body: &[u8]) -> (String, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    if !body.is_empty() {
        let _ = stream.write_all(body).await;
    }
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = text
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if answer.len() >= end + 4 + length {
                    return;
                }
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => answer.extend_from_slice(&buffer[..read]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(15), read).await;
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("none")
}

fn error_code(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str::<Value>(body).map_or(Value::Null, |v| v["error"]["code"].clone())
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let app =
        spawn_app_with(Options { settings: vec![("max_body_bytes", "1000".into())], ..Default::default() })
            .await;
    app.create_workflow(workflow("capped", false, json!([]))).await;
    let mut guarded = workflow("guarded", false, json!([]));
    guarded["trigger"]["basicAuthentication"] = json!({"username": "psp", "password": "s3cret"});
    app.create_workflow(guarded).await;
    let path = |key: &str| format!("/api/webhook:trigger/{key}");
    let head = |key: &str, length: usize, auth: bool| {
        let credentials = if auth { "Authorization: Basic cHNwOnMzY3JldA==\r\n" } else { "" };
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{credentials}\
             Content-Length: {length}\r\nConnection: close\r\n\r\n",
            path(key)
        )
    };
    // Far below the 10 s body deadline: an answer this soon was not waiting for a body.
    let soon = Duration::from_secs(2);

    // A declared length over the limit is refused from the headers: with no body sent at all
    // the 413 still comes at once …
    let (answer, took) = raw_exchange(&app.base, &head("capped", 100_000, false), b"").await;
    assert_eq!(status_of(&answer), "413", "{answer}");
    assert_eq!(error_code(&answer), "payload_too_large", "{answer}");
    assert!(took < soon, "the 413 took {took:?}");
    // … and with the body sent, as an ordinary client does, the answer is the same.
    let big = format!("\"{}\"", "x".repeat(100_000 - 2));
    let response = app
        .client
        .post(app.webhook_url("capped"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");

    // Basic auth is checked from the headers too: a caller without credentials gets 401 for a
    // body within the limit that it never sends …
    let (answer, took) = raw_exchange(&app.base, &head("guarded", 1_000, false), b"").await;
    assert_eq!(status_of(&answer), "401", "{answer}");
    assert!(answer.to_ascii_lowercase().contains("www-authenticate: basic realm=\"hookflow\""), "{answer}");
    assert_eq!(error_code(&answer), "unauthorized", "{answer}");
    assert!(took < soon, "the 401 took {took:?}");
    // … and for one it sends that is not even JSON (a 400 would mean it had been parsed).
    let garbage = vec![b'{'; 1_000];
    let (answer, _) = raw_exchange(&app.base, &head("guarded", 1_000, false), &garbage).await;
    assert_eq!(status_of(&answer), "401", "{answer}");
    let response = app
        .client
        .post(app.webhook_url("guarded"))
        .header("content-type", "application/json")
        .body(format!("\"{}\"", "x".repeat(1_000 - 2)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // SPEC §4 puts 413 before 401: over the limit without credentials is 413, and the right
    // credentials do not lift the limit.
    for auth in [false, true] {
        let (answer, took) = raw_exchange(&app.base, &head("guarded", 100_000, auth), b"").await;
        assert_eq!(status_of(&answer), "413", "credentials {auth}: {answer}");
        assert!(took < soon, "the 413 took {took:?}");
    }
    let response = app
        .client
        .post(app.webhook_url("guarded"))
        .basic_auth("psp", Some("s3cret"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // With the credentials and a body within the limit, the call goes through.
    let within = json!({"padding": "x".repeat(900)});
    let response = app
        .client
        .post(app.webhook_url("guarded"))
        .basic_auth("psp", Some("s3cret"))
        .json(&within)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.post_json("capped", &within).await.status(), 200);
}
