//! A distributed Hookflow for one test: two `ingress` and two `worker` processes (the real
//! binaries) on the RabbitMQ, Redis and PostgreSQL named by `HOOKFLOW_TEST_AMQP_URL`,
//! `HOOKFLOW_TEST_REDIS_URL` and `HOOKFLOW_TEST_DATABASE_URL`. Each cluster has a database and
//! a queue namespace of its own, so tests run side by side; its processes are killed and its
//! queues deleted when it is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lapin::options::QueueDeleteOptions;
use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

/// How long a process may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("HOOKFLOW_TEST_MODE=distributed needs {name}; scripts/test.sh sets it (eval \"$(scripts/services.sh)\")")
    })
}

/// A binary built next to the test executable (`cargo build --workspace --bins`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe.parent().and_then(|deps| deps.parent()).expect("target dir").join(name);
    assert!(path.exists(), "{} is missing: build it first (cargo build --workspace --bins)", path.display());
    path
}

/// The resident memory of process `pid`, from `/proc` (0 once it is gone).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// One child process; killed when dropped.
pub struct Process {
    pub name: String,
    /// `http://127.0.0.1:<port>` of its main HTTP endpoints (for a worker: its only ones), once
    /// it has said where it listens.
    pub base: String,
    /// `http://<address>` of its operator listener (`/metrics`, `/healthz`, `/readyz`).
    pub metrics: String,
    /// The lines it prints with the addresses it bound: (main, operator listener).
    announces: (&'static str, &'static str),
    child: Child,
    log: PathBuf,
}

/// The lines each binary prints with the addresses it bound (they bind port 0 here, so no two
/// processes can race for one port). Each is matched whole: the ingress prints two.
pub const INGRESS_LISTENING: &str = "hookflow: ingress listening on ";
pub const INGRESS_METRICS: &str = "hookflow: ingress metrics listening on ";
pub const WORKER_METRICS: &str = "hookflow: worker metrics listening on ";

impl Process {
    /// Starts a binary with exactly `env` (and `PATH`) on port 0, logging to
    /// `<log_dir>/<name>.log`; `announces` are the lines it prints with its addresses.
    pub fn spawn(
        binary_name: &str,
        name: &str,
        env: &[(String, String)],
        log_dir: &std::path::Path,
        announces: (&'static str, &'static str),
    ) -> Self {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary(binary_name))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HOOKFLOW_LISTEN", "127.0.0.1:0")
            .env("HOOKFLOW_METRICS_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Process { name: name.to_owned(), base: String::new(), metrics: String::new(), announces, child, log }
    }

    /// Waits until it has said where it listens and answers `/readyz` with 200, every
    /// dependency up.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, deadline: Instant) {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before it was ready:\n{}", self.name, self.log_tail());
            }
            if self.base.is_empty() || self.metrics.is_empty() {
                let text = self.log_text();
                let announced = |prefix: &str| {
                    text.lines()
                        .find_map(|line| line.strip_prefix(prefix))
                        .map(|a| format!("http://{}", a.trim()))
                };
                let (main, metrics) = self.announces;
                if let (Some(base), Some(metrics)) = (announced(main), announced(metrics)) {
                    self.base = base;
                    self.metrics = metrics;
                } else {
                    assert!(
                        Instant::now() < deadline,
                        "{} never said where it listens:\n{}",
                        self.name,
                        self.log_tail()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
            // Ready, and every dependency up: an ingress is ready without Redis, but a test
            // that starts with a sync call needs it.
            if let Ok(ready) = client.get(format!("{}/readyz", self.base)).send().await {
                let status = ready.status();
                let body: serde_json::Value = ready.json().await.unwrap_or_default();
                let all_up = body.as_object().is_some_and(|deps| {
                    deps.iter().filter(|(name, _)| *name != "status").all(|(_, state)| state == "ok")
                });
                if status == 200 && all_up {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("{} was not ready within {READY_WITHIN:?}:\n{}", self.name, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its resident memory, from `/proc`.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.child.id())
    }

    /// Everything it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it with SIGKILL (a crash) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `within` for a graceful exit.
    pub fn terminate(&mut self, within: Duration) -> bool {
        self.send_term();
        self.wait_exit(within)
    }

    /// Sends SIGTERM once (a second one makes Hookflow exit without draining).
    pub fn send_term(&self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
    }

    /// Waits up to `within` for it to exit; whether it did.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two ingress and two worker processes sharing a database and a namespace.
pub struct Cluster {
    pub ingress: Vec<Process>,
    pub workers: Vec<Process>,
    env: Vec<(String, String)>,
    namespace: String,
    amqp_url: String,
    redis_url: String,
    database_url: String,
    /// `HOOKFLOW_INTERNAL_KEY` of every process.
    internal_key: String,
    logs: tempfile::TempDir,
}

impl Cluster {
    /// Starts the cluster with the given `(config key, value)` settings and waits until every
    /// process is ready. With `hold_workers`, workers start at [`Cluster::start_workers`].
    pub async fn start(settings: &[(&str, String)], hold_workers: bool) -> Self {
        let database_url = required_env("HOOKFLOW_TEST_DATABASE_URL");
        let amqp_url = required_env("HOOKFLOW_TEST_AMQP_URL");
        let redis_url = required_env("HOOKFLOW_TEST_REDIS_URL");
        let id = Uuid::now_v7().simple().to_string();
        let database = format!("e_{id}");
        let admin = Database::connect(&database_url).await.expect("PostgreSQL reachable");
        admin.execute_unprepared(&format!("CREATE DATABASE {database}")).await.expect("create test database");
        let base_url = database_url.rsplit_once('/').map(|(base, _)| base).expect("a database URL");
        let namespace = format!("t{id}");
        let mut env: Vec<(String, String)> = settings
            .iter()
            .map(|(key, value)| (format!("HOOKFLOW_{}", key.to_ascii_uppercase()), value.clone()))
            .collect();
        // A key of this cluster's own: its processes share it, and a test that forges
        // messages knows which one it is not using.
        let internal_key = format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple());
        env.extend([
            ("HOOKFLOW_INTERNAL_KEY".to_owned(), internal_key.clone()),
            ("HOOKFLOW_DATABASE_URL".to_owned(), format!("{base_url}/{database}")),
            ("HOOKFLOW_AMQP_URL".to_owned(), amqp_url.clone()),
            ("HOOKFLOW_REDIS_URL".to_owned(), redis_url.clone()),
            ("HOOKFLOW_NAMESPACE".to_owned(), namespace.clone()),
        ]);
        let mut cluster = Self {
            ingress: Vec::new(),
            workers: Vec::new(),
            env,
            namespace,
            amqp_url,
            redis_url,
            database_url: format!("{base_url}/{database}"),
            internal_key,
            logs: tempfile::tempdir().expect("log dir"),
        };
        for i in 0..2 {
            let process =
                cluster.spawn("ingress", &format!("ingress-{i}"), (INGRESS_LISTENING, INGRESS_METRICS));
            cluster.ingress.push(process);
        }
        if !hold_workers {
            cluster.spawn_workers();
        }
        cluster.wait_ready().await;
        cluster
    }

    fn spawn(&self, binary_name: &str, name: &str, announces: (&'static str, &'static str)) -> Process {
        Process::spawn(binary_name, name, &self.env, self.logs.path(), announces)
    }

    fn spawn_workers(&mut self) {
        for i in self.workers.len()..2 {
            let process = self.spawn("worker", &format!("worker-{i}"), (WORKER_METRICS, WORKER_METRICS));
            self.workers.push(process);
        }
    }

    /// Starts held-back workers and waits until they are ready.
    pub async fn start_workers(&mut self) {
        self.spawn_workers();
        self.wait_ready().await;
    }

    pub fn ingress_bases(&self) -> Vec<String> {
        self.ingress.iter().map(|p| p.base.clone()).collect()
    }

    pub fn worker_bases(&self) -> Vec<String> {
        self.workers.iter().map(|p| p.base.clone()).collect()
    }

    /// Every process's operator listener (`/metrics`), ingress first.
    pub fn metrics_bases(&self) -> Vec<String> {
        self.ingress.iter().chain(&self.workers).map(|p| p.metrics.clone()).collect()
    }

    /// The cluster's own database.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The broker every process uses.
    pub fn amqp_url(&self) -> &str {
        &self.amqp_url
    }

    /// The Redis every process uses.
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// The last lines each process logged, for a failing test to show what the cluster did.
    pub fn log_tails(&self) -> String {
        self.ingress
            .iter()
            .chain(&self.workers)
            .map(|process| format!("--- {}\n{}", process.name, process.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `queue: ready messages` for the cluster's three queues, for a failing test to show
    /// where undelivered executions are (still queued, or dead-lettered).
    pub async fn queue_depths(&self) -> String {
        let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        let Ok(connection) =
            lapin::Connection::connect(&self.amqp_url, lapin::ConnectionProperties::default()).await
        else {
            return "RabbitMQ unreachable".into();
        };
        let Ok(channel) = connection.create_channel().await else { return "no channel".into() };
        let names = self.queue_names();
        let mut depths = Vec::new();
        for queue in [names.sync, names.asynchronous, names.dead] {
            let depth = match channel.queue_declare(queue.as_str().into(), passive, Default::default()).await
            {
                Ok(declared) => declared.message_count().to_string(),
                Err(error) => format!("unknown ({error})"),
            };
            depths.push(format!("{queue}: {depth}"));
        }
        let _ = connection.close(200, "done".into()).await;
        // What a passive declare cannot say: messages delivered and not yet acked, and to whom.
        let ctl = |args: &[&str]| {
            std::process::Command::new("rabbitmqctl")
                .args(args)
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_else(|error| format!("rabbitmqctl: {error}"))
        };
        let queues =
            ctl(&["list_queues", "-q", "name", "messages_ready", "messages_unacknowledged", "consumers"]);
        let channels =
            ctl(&["list_channels", "-q", "connection", "name", "consumer_count", "messages_unacknowledged"]);
        let ours: Vec<&str> = queues.lines().filter(|line| line.contains(&self.namespace)).collect();
        format!(
            "{}; broker (name ready unacked consumers): {}; channels: {}",
            depths.join(", "),
            ours.join(" | "),
            channels.lines().collect::<Vec<_>>().join(" | ")
        )
    }

    /// The namespace of the cluster's queues and Redis channels.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key its processes authenticate queue messages and replies with.
    pub fn internal_key(&self) -> &str {
        &self.internal_key
    }

    /// The namespace's queue names.
    pub fn queue_names(&self) -> hookflow_shared::queue::QueueNames {
        hookflow_shared::queue::QueueNames::new(&self.namespace)
    }

    /// Waits until every running process answers `/readyz` with 200.
    pub async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let deadline = Instant::now() + READY_WITHIN;
        for process in self.ingress.iter_mut().chain(self.workers.iter_mut()) {
            process.wait_ready(&client, deadline).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.ingress.clear();
        self.workers.clear();
        // Quorum queues outlive their users; delete this cluster's so runs do not pile them up.
        let url = self.amqp_url.clone();
        let names = self.queue_names();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                let Ok(connection) =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await
                else {
                    return;
                };
                let Ok(channel) = connection.create_channel().await else { return };
                for queue in [names.sync, names.asynchronous, names.dead] {
                    let _ = channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
                }
                let _ = connection.close(200, "done".into()).await;
            });
        })
        .join();
    }
}
