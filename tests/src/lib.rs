//! Test helpers: start Hookflow on port 0 with a fresh database, talk to it over HTTP.

use std::time::Duration;

use hookflow_ingress::{Application, WorkerStarter};
use hookflow_shared::config::Config;
use reqwest::{Client, Response};
use serde_json::Value;

/// A running Hookflow and a client for it.
pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: Client,
    /// Holds the SQLite file (and workflow files) for the test's lifetime.
    pub dir: tempfile::TempDir,
}

/// How a test wants its instance.
#[derive(Default)]
pub struct Options {
    /// Extra `(config key, value)` pairs, e.g. `("max_body_bytes", "100")`.
    pub settings: Vec<(&'static str, String)>,
    /// Workflow files written into `HOOKFLOW_WORKFLOWS_DIR` before start.
    pub workflow_files: Vec<(&'static str, String)>,
    /// Keep the embedded workers stopped; the returned starter starts them.
    pub hold_workers: bool,
}

/// Starts Hookflow with defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await.0
}

/// Starts Hookflow as `options` say.
pub async fn spawn_app_with(options: Options) -> (TestApp, Option<WorkerStarter>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("hookflow.db").display());
    let workflows_dir = dir.path().join("workflows");
    std::fs::create_dir(&workflows_dir).expect("workflows dir");
    for (name, text) in &options.workflow_files {
        std::fs::write(workflows_dir.join(name), text).expect("workflow file");
    }
    let mut pairs: Vec<(&str, String)> = vec![
        ("listen", "127.0.0.1:0".into()),
        ("database_url", database_url),
        ("admin_token", "test-admin-token".into()),
        ("log", std::env::var("HOOKFLOW_TEST_LOG").unwrap_or_else(|_| "warn".into())),
    ];
    if !options.workflow_files.is_empty() {
        pairs.push(("workflows_dir", workflows_dir.display().to_string()));
    }
    pairs.extend(options.settings.iter().map(|(k, v)| (*k, v.clone())));
    let config = Config::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).expect("test config");
    hookflow_shared::logging::init(&config);
    let mut application = Application::build(config).await.expect("application builds");
    let starter = options.hold_workers.then(|| application.hold_workers());
    let base = format!("http://127.0.0.1:{}", application.port());
    let token = application.admin_token().to_owned();
    tokio::spawn(application.run_until_stopped());
    let client = Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    (TestApp { base, token, client, dir }, starter)
}

impl TestApp {
    pub fn webhook_url(&self, key: &str) -> String {
        format!("{}/api/webhook:trigger/{key}", self.base)
    }

    /// An admin request with the bearer token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    /// Creates a workflow and returns its API representation; panics unless 201.
    pub async fn create_workflow(&self, definition: Value) -> Value {
        let response =
            self.admin(reqwest::Method::POST, "/api/workflows").json(&definition).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "creating a workflow: {body}");
        body
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
