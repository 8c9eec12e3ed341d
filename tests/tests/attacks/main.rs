//! Attacks on a running embedded `ingress` binary: slow and oversized clients, large bodies at
//! once, caller data aimed at the log. Each reproduces the attack over real sockets and checks
//! the answer, how soon it came, and the process's health and resident memory (from `/proc`)
//! afterwards.
//!
//! Each test starts a process of its own and measures its memory under load, so they run one
//! at a time: `cargo test -p hookflow-tests --test attacks -- --ignored --test-threads=1`
//! (`scripts/test.sh` does).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookflow_tests::cluster::{rss_of, Process, INGRESS_LISTENING, INGRESS_METRICS};
use hookflow_tests::{workflow, ADMIN_TOKEN};
use reqwest::Client;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1024 * 1024;

/// An embedded ingress process and a client for it.
struct Target {
    process: Process,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Target {
    async fn start(settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env: Vec<(String, String)> = vec![
            (
                "HOOKFLOW_DATABASE_URL".into(),
                format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display()),
            ),
            ("HOOKFLOW_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ("HOOKFLOW_LOG".into(), "info".into()),
        ];
        env.extend(
            settings.iter().map(|(k, v)| (format!("HOOKFLOW_{}", k.to_ascii_uppercase()), (*v).to_owned())),
        );
        let mut process =
            Process::spawn("ingress", "ingress", &env, dir.path(), (INGRESS_LISTENING, INGRESS_METRICS));
        let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        process.wait_ready(&client, Instant::now() + Duration::from_secs(30)).await;
        Self { process, client, _dir: dir }
    }

    fn address(&self) -> String {
        self.process.base.trim_start_matches("http://").to_owned()
    }

    async fn create(&self, definition: Value) {
        let response = self
            .client
            .post(format!("{}/api/workflows", self.process.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&definition)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    async fn post(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/webhook:trigger/{key}", self.process.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Healthy means: alive, `/healthz` answers, and a webhook is accepted, each within 2 s.
    async fn assert_healthy(&mut self, key: &str) {
        assert!(self.process.is_running(), "the process died:\n{}", self.process.log_text());
        let started = Instant::now();
        let health = self.client.get(format!("{}/healthz", self.process.base)).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let accepted = self.post(key, &json!({"probe": true})).await;
        assert!(accepted.status().is_success(), "a normal webhook answered {}", accepted.status());
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }

    /// Samples the resident memory every 20 ms until the returned guard is dropped; the guard
    /// reads the peak.
    fn watch_memory(&self) -> MemoryWatch {
        let peak = Arc::new(AtomicU64::new(self.process.rss_bytes()));
        let pid = self.process.pid();
        let sampled = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                sampled.fetch_max(rss_of(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        MemoryWatch { peak, task }
    }
}

struct MemoryWatch {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl MemoryWatch {
    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Warms the process up (allocator arenas, server threads, the database pool) so that the
/// baseline before an attack is a working process, not a fresh one.
async fn warm_up(target: &Target, key: &str) {
    for i in 0..200 {
        let response = target.post(key, &json!({"warm": i, "data": "x".repeat(2048)})).await;
        assert!(response.status().is_success());
    }
}

fn async_workflow(key: &str) -> Value {
    workflow(key, false, json!([{"key": "c", "type": "calculation", "config": {"expression": "1 + 1"}}]))
}

fn request_head(key: &str, length: usize) -> String {
    format!(
        "POST /api/webhook:trigger/{key} HTTP/1.1\r\nHost: hookflow\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
#[ignore = "starts its own process and measures its memory: run alone (scripts/test.sh)"]
async fn slow_clients_that_declare_large_bodies_cost_little_memory() {
    let mut target = Target::start(&[]).await;
    target.create(async_workflow("slow")).await;
    warm_up(&target, "slow").await;
    let before = target.process.rss_bytes();
    let watch = target.watch_memory();

    // 1,000 callers promise 1 MiB each, then trickle it.
    let mut sockets = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut socket = TcpStream::connect(target.address()).await.unwrap();
        socket.write_all(request_head("slow", 1 << 20).as_bytes()).await.unwrap();
        socket.write_all(b"[").await.unwrap();
        sockets.push(socket);
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for socket in &mut sockets {
            let _ = socket.write_all(b"0").await;
        }
    }
    target.assert_healthy("slow").await;
    let grown = watch.peak().saturating_sub(before);
    println!("1,000 slow 1 MiB callers: RSS {} MiB before, peak +{} MiB", before / MIB, grown / MIB);
    assert!(grown < 64 * MIB, "1,000 slow clients grew the process by {} MiB", grown / MIB);
}

#[tokio::test]
#[ignore = "starts its own process: run alone (scripts/test.sh)"]
async fn a_slow_body_is_cut_off_at_the_body_timeout() {
    let mut target = Target::start(&[("body_timeout_ms", "2000")]).await;
    target.create(async_workflow("trickle")).await;
    let mut socket = TcpStream::connect(target.address()).await.unwrap();
    socket.write_all(request_head("trickle", 1000).as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // One byte every 500 ms would take 500 s; the server must answer and hang up long before.
    let closed = loop {
        assert!(started.elapsed() < Duration::from_secs(10), "still connected after 10 s");
        let _ = socket.write_all(b" ").await;
        match tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
    };
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(
        closed >= Duration::from_millis(1900) && closed < Duration::from_secs(4),
        "closed after {closed:?}"
    );

    // Headers that never end are cut off too (5 s to send them).
    let mut socket = TcpStream::connect(target.address()).await.unwrap();
    socket.write_all(b"POST /api/webhook:trigger/trickle HTTP/1.1\r\nHost: h\r\n").await.unwrap();
    let started = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest).await;
        rest
    })
    .await
    .expect("the connection was closed within 10 s");
    assert!(started.elapsed() < Duration::from_secs(8), "closed after {:?}", started.elapsed());
    assert!(read.is_empty() || String::from_utf8_lossy(&read).starts_with("HTTP/1.1 408"));
    target.assert_healthy("trickle").await;
}

#[tokio::test]
#[ignore = "starts its own process and measures its memory: run alone (scripts/test.sh)"]
async fn many_large_bodies_at_once_stay_within_the_memory_budget() {
    let mut target = Target::start(&[]).await;
    target.create(async_workflow("big")).await;
    warm_up(&target, "big").await;
    let before = target.process.rss_bytes();
    let watch = target.watch_memory();

    // 60 bodies of 1 MiB that parse into half a million values each.
    let body = format!("[{}0]", "0,".repeat((1 << 20) / 2 - 2));
    assert!(body.len() <= 1 << 20);
    let started = Instant::now();
    let calls = (0..60).map(|_| {
        let (client, url, body) =
            (target.client.clone(), format!("{}/api/webhook:trigger/big", target.process.base), body.clone());
        tokio::spawn(async move {
            let response =
                client.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            (status, retry_after)
        })
    });
    let answers: Vec<(u16, bool)> =
        futures_util::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    let took = started.elapsed();
    let accepted = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers.iter().filter(|(status, retry)| *status == 503 && *retry).count();
    target.assert_healthy("big").await;
    let grown = watch.peak().saturating_sub(before);
    println!(
        "60 x 1 MiB bodies: {accepted} accepted, {refused} refused with 503, in {took:?}; RSS {} MiB before, peak +{} MiB",
        before / MIB,
        grown / MIB
    );
    assert_eq!(accepted + refused, 60, "every caller is accepted or told to retry: {answers:?}");
    assert!(accepted >= 1, "at least one large body fits the budget");
    assert!(grown < 640 * MIB, "60 large bodies grew the process by {} MiB", grown / MIB);
}

#[tokio::test]
#[ignore = "starts its own process: run alone (scripts/test.sh)"]
async fn a_caller_value_with_a_newline_stays_on_one_log_line() {
    let mut target = Target::start(&[]).await;
    target
        .create(workflow("echo", true, json!([{"key": "calc", "type": "calculation", "config": {"expression": "{{$context.body.s}} * 2"}}])))
        .await;
    let forged = "x\nINFO forged: admin token accepted\r\u{1b}[2J";
    let response = target.post("echo", &json!({"s": forged})).await;
    assert_eq!(response.status(), 500);
    // The worker logs the failed execution, whose reason quotes the value.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = target.process.log_text();
        if log.contains("execution did not resolve") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let line =
        log.lines().find(|line| line.contains("execution did not resolve")).expect("the failure is logged");
    assert!(line.contains("x\\nINFO forged: admin token accepted\\r"), "{line}");
    assert!(!log.lines().any(|line| line.starts_with("INFO forged")), "{log}");
    assert!(!log.contains('\r') && !log.contains('\u{1b}'), "{log:?}");
    target.assert_healthy_sync().await;
}

impl Target {
    /// A sync workflow still answers (nothing was left broken by the failed execution).
    async fn assert_healthy_sync(&mut self) {
        assert!(self.process.is_running());
        let response = self.post("echo", &json!({"s": 21})).await;
        assert_eq!(response.status(), 200);
    }
}
