//! Assembles a running Hookflow from its configuration. In embedded mode (no broker) one
//! process holds everything: SQLite or PostgreSQL storage, the catalog, the in-memory queue,
//! in-process replies, a worker pool, the recorder and the pruner.
//!
//! Tests build an [`Application`] on port 0 and talk to it over real HTTP.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use hookflow_shared::catalog::Catalog;
use hookflow_shared::config::Config;
use hookflow_shared::queue::{memory_queue, MemoryConsumer};
use hookflow_shared::reply::MemoryReplyBus;
use hookflow_shared::storage::Storage;
use hookflow_worker::metrics::WorkerMetrics;
use hookflow_worker::pool::WorkerPool;
use hookflow_worker::recorder::Recorder;
use prometheus::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::metrics::IngressMetrics;
use crate::state::{AppState, Settings};
use crate::{routes, workflow_files};

/// Messages the in-memory queue holds per mode before publishers wait.
const MEMORY_QUEUE_CAPACITY: usize = 16_384;

/// A built, not yet running Hookflow.
pub struct Application {
    port: u16,
    admin_token: String,
    server: Server,
    state: web::Data<AppState>,
    workers: Option<EmbeddedWorkers>,
    /// When set, embedded workers start only once it fires (see [`Application::hold_workers`]).
    workers_gate: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// The in-process worker side of embedded mode, started with the server.
struct EmbeddedWorkers {
    pool: WorkerPool,
    recorder: JoinHandle<()>,
    pruner: JoinHandle<()>,
    shutdown: CancellationToken,
}

/// The admin token: configured, or generated (embedded mode) and announced once.
fn admin_token(config: &Config) -> anyhow::Result<(String, bool)> {
    match &config.admin_token {
        Some(token) => Ok((token.clone(), false)),
        None if config.is_embedded() => {
            Ok((crate::workflows::generate_key() + &crate::workflows::generate_key(), true))
        }
        None => bail!("HOOKFLOW_ADMIN_TOKEN is required in distributed mode"),
    }
}

impl Application {
    /// Connects storage, loads workflows (and workflow files), binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        if !config.is_embedded() {
            bail!(
                "HOOKFLOW_AMQP_URL is set, but this build runs embedded mode only; unset it to run Hookflow in one process"
            );
        }
        let storage = Storage::connect(&config.database_url)
            .await
            .with_context(|| format!("connecting to the database {}", redact(&config.database_url)))?;
        let catalog = Catalog::load(storage.clone()).await.context("loading workflows")?;
        let registry = Registry::new();
        let metrics = IngressMetrics::new(&registry)?;
        let worker_metrics = WorkerMetrics::new(&registry)?;
        let (producer, consumer) = memory_queue(MEMORY_QUEUE_CAPACITY);
        let replies = Arc::new(MemoryReplyBus::new());
        let (token, generated) = admin_token(&config)?;

        let state = web::Data::new(AppState {
            catalog: catalog.clone(),
            storage: storage.clone(),
            producer: Arc::new(producer),
            replies: replies.clone(),
            metrics,
            registry,
            settings: Settings {
                max_body_bytes: config.max_body_bytes,
                sync_timeout: config.sync_timeout,
                public_url: config.public_url.clone(),
                admin_token: token.clone(),
            },
        });
        if let Some(dir) = &config.workflows_dir {
            let applied = workflow_files::apply_dir(&state, dir).await?;
            tracing::info!(dir = %dir.display(), applied, "workflow files applied");
        }
        let workers = embedded_workers(&config, consumer, catalog, replies, storage, worker_metrics);

        let listener =
            TcpListener::bind(config.listen).with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, state.clone())?;
        if generated {
            // Printed once, on purpose: the operator needs it to use the admin API.
            println!("hookflow: generated admin token (set HOOKFLOW_ADMIN_TOKEN to choose one): {token}");
        }
        tracing::info!(port, mode = "embedded", "hookflow listening");
        Ok(Self { port, admin_token: token, server, state, workers: Some(workers), workers_gate: None })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Shared state, for tests that look inside.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Keeps the embedded workers stopped until [`WorkerStarter::start`] is called, so tests
    /// can observe executions that wait in the queue (timeouts, deadlines).
    pub fn hold_workers(&mut self) -> WorkerStarter {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.workers_gate = Some(receiver);
        WorkerStarter { sender }
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), then drains: the server
    /// finishes in-flight requests (sync callers get their answers), the workers finish their
    /// executions, the recorder writes what it holds.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let workers = self.workers.take();
        let (pool_task, shutdown, recorder, pruner) = match workers {
            Some(EmbeddedWorkers { pool, recorder, pruner, shutdown }) => {
                let gate = self.workers_gate.take();
                let token = shutdown.clone();
                let task = tokio::spawn(async move {
                    if let Some(gate) = gate {
                        let _ = gate.await;
                    }
                    pool.run(token).await;
                });
                (Some(task), Some(shutdown), Some(recorder), Some(pruner))
            }
            None => (None, None, None, None),
        };
        let served = self.server.await;
        if let Some(shutdown) = shutdown {
            shutdown.cancel();
        }
        if let Some(task) = pool_task {
            let _ = task.await;
        }
        if let Some(recorder) = recorder {
            let _ = recorder.await;
        }
        if let Some(pruner) = pruner {
            pruner.abort();
        }
        tracing::info!("hookflow stopped");
        Ok(served?)
    }
}

/// Starts embedded workers that were held back with [`Application::hold_workers`].
pub struct WorkerStarter {
    sender: tokio::sync::oneshot::Sender<()>,
}

impl WorkerStarter {
    pub fn start(self) {
        let _ = self.sender.send(());
    }
}

fn embedded_workers(
    config: &Config,
    consumer: MemoryConsumer,
    catalog: Arc<Catalog>,
    replies: Arc<MemoryReplyBus>,
    storage: Storage,
    metrics: WorkerMetrics,
) -> EmbeddedWorkers {
    let (recorder, recorder_task) = Recorder::spawn(storage.clone(), config.record_executions);
    let shutdown = CancellationToken::new();
    let pruner =
        tokio::spawn(hookflow_worker::pruner::run(storage, config.execution_retention, shutdown.clone()));
    let pool =
        WorkerPool::new(Box::new(consumer), catalog, replies, recorder, metrics, config.worker_concurrency);
    EmbeddedWorkers { pool, recorder: recorder_task, pruner, shutdown }
}

/// The HTTP server with JSON errors for extractor failures too.
fn serve(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(state.settings.max_body_bytes.max(4 * 1024 * 1024)))
            .app_data(
                web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()),
            )
            .app_data(
                web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()),
            )
            .configure(routes::configure)
            .default_service(web::to(|| async {
                actix_web::ResponseError::error_response(&ApiError::NotFound("no such route".into()))
            }))
    })
    .listen(listener)?
    .run();
    Ok(server)
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((before, after)) => match before.rsplit_once(':') {
            Some((user, _)) if user.contains("//") => format!("{user}:***@{after}"),
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
