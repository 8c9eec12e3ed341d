//! Test helpers: start Hookflow with a fresh database, talk to it over HTTP.
//!
//! The same suite runs per backend. By default each test starts an embedded instance in
//! process on port 0. With `HOOKFLOW_TEST_MODE=distributed` each test starts a cluster of real
//! binaries instead — two `ingress` and two `worker` processes on RabbitMQ, Redis and a
//! PostgreSQL database of its own (see [`cluster`]); `scripts/test.sh` runs it that way too.

pub mod cluster;
pub mod metrics;

use std::time::Duration;

use hookflow_ingress::{Application, WorkerStarter};
use hookflow_shared::config::Config;
use reqwest::{Client, Response};
use serde_json::Value;

use crate::cluster::Cluster;

/// The public URL every test instance announces in `webhookUrl`.
pub const PUBLIC_URL: &str = "https://hooks.example.test";
/// The admin token of every test instance.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running Hookflow and a client for it.
pub struct TestApp {
    /// The first ingress.
    pub base: String,
    /// Every ingress (two in distributed mode).
    pub bases: Vec<String>,
    /// The operator listener (`/metrics`) of the first ingress.
    pub metrics_base: String,
    pub token: String,
    pub client: Client,
    /// Holds the SQLite file (and workflow files) for the test's lifetime.
    pub dir: tempfile::TempDir,
    backend: Backend,
}

enum Backend {
    Embedded { starter: Option<WorkerStarter> },
    Distributed(Cluster),
}

/// How a test wants its instance.
#[derive(Default)]
pub struct Options {
    /// Extra `(config key, value)` pairs, e.g. `("max_body_bytes", "100")`.
    pub settings: Vec<(&'static str, String)>,
    /// Workflow files written into `HOOKFLOW_WORKFLOWS_DIR` before start.
    pub workflow_files: Vec<(&'static str, String)>,
    /// Keep the workers stopped until [`TestApp::start_workers`].
    pub hold_workers: bool,
}

/// Whether this run tests the distributed mode.
pub fn distributed() -> bool {
    std::env::var("HOOKFLOW_TEST_MODE").is_ok_and(|mode| mode == "distributed")
}

/// Starts Hookflow with defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// Starts Hookflow as `options` say, in the mode of this run.
pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows_dir = dir.path().join("workflows");
    std::fs::create_dir(&workflows_dir).expect("workflows dir");
    for (name, text) in &options.workflow_files {
        std::fs::write(workflows_dir.join(name), text).expect("workflow file");
    }
    let mut settings: Vec<(&str, String)> = vec![
        ("admin_token", ADMIN_TOKEN.into()),
        ("public_url", PUBLIC_URL.into()),
        ("log", std::env::var("HOOKFLOW_TEST_LOG").unwrap_or_else(|_| "warn".into())),
    ];
    if !options.workflow_files.is_empty() {
        settings.push(("workflows_dir", workflows_dir.display().to_string()));
    }
    settings.extend(options.settings.iter().map(|(k, v)| (*k, v.clone())));
    let client = Client::builder().timeout(Duration::from_secs(30)).build().expect("client");

    if distributed() {
        let cluster = Cluster::start(&settings, options.hold_workers).await;
        let bases = cluster.ingress_bases();
        return TestApp {
            base: bases[0].clone(),
            bases,
            metrics_base: cluster.ingress[0].metrics.clone(),
            token: ADMIN_TOKEN.into(),
            client,
            dir,
            backend: Backend::Distributed(cluster),
        };
    }

    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("hookflow.db").display());
    settings.push(("listen", "127.0.0.1:0".into()));
    settings.push(("metrics_listen", "127.0.0.1:0".into()));
    settings.push(("database_url", database_url));
    let config = Config::from_pairs(settings.iter().map(|(k, v)| (*k, v.as_str()))).expect("test config");
    let _ = hookflow_shared::logging::init(&config, "hookflow-test");
    let mut application = Application::build(config).await.expect("application builds");
    let starter = if options.hold_workers { application.hold_workers() } else { None };
    let base = format!("http://127.0.0.1:{}", application.port());
    let metrics_base = format!("http://127.0.0.1:{}", application.metrics_port());
    tokio::spawn(application.run(tokio_util::sync::CancellationToken::new()));
    TestApp {
        base: base.clone(),
        bases: vec![base],
        metrics_base,
        token: ADMIN_TOKEN.into(),
        client,
        dir,
        backend: Backend::Embedded { starter },
    }
}

impl TestApp {
    pub fn webhook_url(&self, key: &str) -> String {
        format!("{}/api/webhook:trigger/{key}", self.base)
    }

    /// Starts workers held back with [`Options::hold_workers`].
    pub async fn start_workers(&mut self) {
        match &mut self.backend {
            Backend::Embedded { starter } => starter.take().expect("workers were held").start(),
            Backend::Distributed(cluster) => cluster.start_workers().await,
        }
    }

    /// The cluster behind a distributed test.
    pub fn cluster(&mut self) -> Option<&mut Cluster> {
        match &mut self.backend {
            Backend::Distributed(cluster) => Some(cluster),
            Backend::Embedded { .. } => None,
        }
    }

    /// Every process's `/metrics` (from its operator listener), one after the other.
    pub async fn metrics(&self) -> String {
        let bases = match &self.backend {
            Backend::Distributed(cluster) => cluster.metrics_bases(),
            Backend::Embedded { .. } => vec![self.metrics_base.clone()],
        };
        let urls: Vec<String> = bases.iter().map(|b| format!("{b}/metrics")).collect();
        let mut text = String::new();
        for url in urls {
            if let Ok(response) = self.client.get(&url).send().await {
                text.push_str(&response.text().await.unwrap_or_default());
            }
        }
        text
    }

    /// An admin request with the bearer token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    /// GETs an admin path and returns its JSON answer.
    pub async fn admin_json(&self, path: &str) -> Value {
        self.admin(reqwest::Method::GET, path).send().await.unwrap().json().await.unwrap()
    }

    /// Creates a workflow and returns its API representation; panics unless 201.
    pub async fn create_workflow(&self, definition: Value) -> Value {
        let response =
            self.admin(reqwest::Method::POST, "/api/workflows").json(&definition).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 201, "creating a workflow: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("creating a workflow answered {text:?}: {e}"))
    }

    /// POSTs JSON to a webhook.
    pub async fn post_json(&self, key: &str, body: &Value) -> Response {
        self.client.post(self.webhook_url(key)).json(body).send().await.unwrap()
    }

    /// Waits (up to 10 s) until the execution is recorded and returns it.
    pub async fn execution(&self, id: &str) -> Value {
        for _ in 0..200 {
            let response =
                self.admin(reqwest::Method::GET, &format!("/api/executions/{id}")).send().await.unwrap();
            if response.status() == 200 {
                return response.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("execution {id} was not recorded within 10 s");
    }
}

/// The execution id header of a webhook answer.
pub fn execution_id(response: &Response) -> String {
    response
        .headers()
        .get("x-hookflow-execution-id")
        .expect("X-Hookflow-Execution-Id header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A minimal workflow definition with the given mode and nodes.
pub fn workflow(key: &str, sync: bool, nodes: Value) -> Value {
    serde_json::json!({ "key": key, "sync": sync, "trigger": { "type": "webhook" }, "nodes": nodes })
}

/// The node keys of an execution's jobs, in order.
pub fn job_keys(execution: &Value) -> Vec<String> {
    execution["jobs"].as_array().unwrap().iter().map(|j| j["nodeKey"].as_str().unwrap().to_owned()).collect()
}
