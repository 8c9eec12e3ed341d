//! Assembles a running ingress from its configuration.
//!
//! - Embedded mode (no `HOOKFLOW_AMQP_URL`): one process holds everything — storage (SQLite by
//!   default), the catalog, an in-memory queue, in-process replies, and the worker pool.
//! - Distributed mode: RabbitMQ for executions, Redis for replies and workflow announcements,
//!   PostgreSQL for storage; workers run in `worker` processes. Envelopes and replies carry
//!   MACs under keys derived from `HOOKFLOW_INTERNAL_KEY` ([`hookflow_shared::message_auth`]).
//!
//! Two listeners: `HOOKFLOW_LISTEN` (webhooks, admin API, `/healthz`, `/readyz`) and
//! `HOOKFLOW_METRICS_LISTEN` (the operator listener of [`hookflow_shared::ops`]: `/metrics`,
//! `/healthz`, `/readyz`), so that metrics are never served to webhook callers.
//!
//! Tests build an [`Application`] on port 0 (both listeners) and talk to it over real HTTP.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use hookflow_shared::catalog::Catalog;
use hookflow_shared::config::{redact_url, Config};
use hookflow_shared::health::{Dependency, Health};
use hookflow_shared::message_auth::MessageKeys;
use hookflow_shared::ops::{self, OpsServer};
use hookflow_shared::queue::{memory_queue, AmqpProducer, JournaledProducer, QueueNames, QueueProducer};
use hookflow_shared::redis_link::RedisLink;
use hookflow_shared::reply::{MemoryReplyBus, RedisReplyBus, ReplyBus};
use hookflow_shared::storage::Storage;
use hookflow_shared::workflow_sync::{follow_changes, WorkflowAnnouncer};
use hookflow_worker::metrics::WorkerMetrics;
use hookflow_worker::runtime::{Journal, WorkerInputs, Workers};
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::limits::Limits;
use crate::metrics::IngressMetrics;
use crate::routes::webhook::idempotency::KeyCache;
use crate::state::{AppState, Settings};
use crate::{routes, workflow_files};

/// How long a client has to send its request headers after connecting.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a finished connection may take to close before it is dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an idle keep-alive connection is kept.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What a held request may still spend past its own bounds while it is answered (settling an
/// idempotency key, reading the answer decision).
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// How long a stopping server waits for the requests it holds: the longest a request can take,
/// so that every caller is answered (a sync one its reply, or 408 at its deadline) before the
/// process ends. With the defaults: 10 s of body, 30 s of sync wait, 5 s for a reply decided at
/// the deadline, 5 s of margin = 50 s; an orchestrator's grace period must exceed it.
pub fn drain_time(config: &Config) -> Duration {
    config.body_timeout + config.sync_timeout + routes::webhook::REPLY_IN_FLIGHT + DRAIN_MARGIN
}

/// A built, not yet running ingress.
pub struct Application {
    port: u16,
    admin_token: String,
    server: Server,
    /// `/metrics`, `/healthz`, `/readyz` on `HOOKFLOW_METRICS_LISTEN`; stopped after `server`.
    ops: Server,
    metrics_port: u16,
    /// Embedded mode only.
    workers: Option<Workers>,
    /// Dependencies watched for `/readyz`, `/healthz` and `hookflow_dependency_up`.
    health: Arc<Health>,
    /// Stops reconnect loops and subscriptions after the server has drained.
    background: CancellationToken,
}

/// The admin token: configured, or generated in embedded mode (and announced once).
fn admin_token(config: &Config) -> anyhow::Result<(String, bool)> {
    match &config.admin_token {
        Some(token) => Ok((token.clone(), false)),
        None if config.is_embedded() => {
            Ok((crate::workflows::generate_key() + &crate::workflows::generate_key(), true))
        }
        None => bail!("HOOKFLOW_ADMIN_TOKEN is required in distributed mode"),
    }
}

/// The database as a dependency.
fn database(storage: &Storage, required: bool) -> Dependency {
    let storage = storage.clone();
    let probe = move || {
        let storage = storage.clone();
        async move { storage.ping().await.is_ok() }
    };
    if required {
        Dependency::required("database", probe)
    } else {
        Dependency::optional("database", probe)
    }
}

/// Distributed: webhooks need the broker only. Without Redis sync calls answer 503 at once
/// and async ones go on; without the database only keyed calls and the admin API fail.
fn distributed_dependencies(
    producer: &AmqpProducer,
    replies: &Arc<RedisReplyBus>,
    redis: &RedisLink,
    storage: &Storage,
) -> Vec<Dependency> {
    let producer = producer.clone();
    let (replies, redis) = (replies.clone(), redis.clone());
    vec![
        Dependency::required("broker", move || {
            let connected = producer.is_connected();
            async move { connected }
        }),
        database(storage, false),
        Dependency::optional("redis", move || {
            let (listening, redis) = (replies.is_listening(), redis.clone());
            async move { listening && redis.ping().await }
        }),
    ]
}

/// The queue, reply bus and whatever else differs between the modes.
struct Transport {
    producer: Arc<dyn QueueProducer>,
    replies: Arc<dyn ReplyBus>,
    dependencies: Vec<Dependency>,
    announcer: Option<WorkflowAnnouncer>,
    workers: Option<Workers>,
    /// Distributed: answered idempotency keys cached in Redis.
    key_cache: Option<KeyCache>,
}

async fn embedded(
    config: &Config,
    catalog: &Arc<Catalog>,
    storage: &Storage,
    registry: &Registry,
) -> anyhow::Result<Transport> {
    let (memory, consumer) = memory_queue(config.queue_memory_bytes, config.sync_timeout);
    // Async callers are answered only once their execution is journaled; what a previous run
    // accepted but did not record is queued again now.
    let producer = JournaledProducer::start(memory, storage.clone());
    let recovered = producer.recover(storage).await.context("reading the execution journal")?;
    if recovered > 0 {
        tracing::info!(recovered, "queued again the async executions accepted before the last stop");
    }
    let replies = Arc::new(MemoryReplyBus::new());
    let inputs = WorkerInputs {
        consumer: Box::new(consumer),
        catalog: catalog.clone(),
        storage: storage.clone(),
        replies: replies.clone(),
        metrics: WorkerMetrics::new(registry)?,
    };
    Ok(Transport {
        producer: Arc::new(producer),
        replies,
        // The journal in the database is the queue: without it no webhook can be taken.
        dependencies: vec![database(storage, true)],
        announcer: None,
        workers: Some(Workers::new(config, inputs, Journal::Settle)),
        key_cache: None,
    })
}

async fn distributed(
    config: &Config,
    amqp_url: &str,
    catalog: &Arc<Catalog>,
    storage: &Storage,
    registry: &Registry,
    background: &CancellationToken,
) -> anyhow::Result<Transport> {
    let redis_url =
        config.redis_url.as_deref().context("HOOKFLOW_REDIS_URL is required in distributed mode")?;
    let keys = MessageKeys::derive(
        config.internal_key.as_deref().context("HOOKFLOW_INTERNAL_KEY is required in distributed mode")?,
    );
    let redis = RedisLink::start(redis_url, background.clone()).context("HOOKFLOW_REDIS_URL")?;
    follow_changes(&redis, &config.namespace, catalog.clone(), background.clone());
    let rejected = ops::rejected_messages(registry, "reply")?;
    let key_cache = KeyCache::new(redis.clone(), &config.namespace, keys.reply.clone());
    let replies = Arc::new(RedisReplyBus::listener(
        redis.clone(),
        &config.namespace,
        keys.reply,
        rejected,
        background.clone(),
    ));
    let names = QueueNames::new(&config.namespace);
    let producer = AmqpProducer::start(amqp_url, names, keys.envelope, background.clone()).await;
    Ok(Transport {
        producer: Arc::new(producer.clone()),
        replies: replies.clone(),
        dependencies: distributed_dependencies(&producer, &replies, &redis, storage),
        announcer: Some(WorkflowAnnouncer::new(redis, &config.namespace)),
        workers: None,
        key_cache: Some(key_cache),
    })
}

impl Application {
    /// Connects storage and the transport, loads workflows (and workflow files), binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (token, generated) = admin_token(&config)?;
        let storage = Storage::connect(&config.database_url)
            .await
            .with_context(|| format!("connecting to the database {}", redact_url(&config.database_url)))?;
        let catalog = Catalog::load(storage.clone()).await.context("loading workflows")?;
        let registry = ops::new_registry()?;
        let metrics = IngressMetrics::new(&registry)?;
        let background = CancellationToken::new();
        let transport = match &config.amqp_url {
            None => embedded(&config, &catalog, &storage, &registry).await?,
            Some(url) => distributed(&config, url, &catalog, &storage, &registry, &background).await?,
        };

        let health = Health::new(&registry, transport.dependencies).await?;
        let state = web::Data::new(AppState {
            catalog,
            storage,
            producer: transport.producer,
            replies: transport.replies,
            announcer: transport.announcer,
            health: health.clone(),
            metrics,
            limits: Limits::new(config.max_inflight, config.body_memory_bytes),
            key_cache: transport.key_cache,
            settings: Settings {
                max_body_bytes: config.max_body_bytes,
                body_timeout: config.body_timeout,
                sync_timeout: config.sync_timeout,
                public_url: config.public_url.clone(),
                admin_token: token.clone(),
                trusted_proxies: config.trusted_proxies.clone(),
            },
        });
        if let Some(dir) = &config.workflows_dir {
            let applied = workflow_files::apply_dir(&state, dir).await?;
            tracing::info!(dir = %dir.display(), applied, "workflow files applied");
        }

        let listener =
            TcpListener::bind(config.listen).with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let drain = drain_time(&config);
        let server = serve(listener, state.clone(), config.max_connections, drain)?;
        // Stopped after the main server has drained, so that metrics stay readable while
        // callers drain.
        let ops = OpsServer::bind(config.metrics_listen, registry, health.clone())?;
        let metrics_address = ops.address();
        if generated {
            // Printed once, on purpose: the operator needs it to use the admin API.
            println!("hookflow: generated admin token (set HOOKFLOW_ADMIN_TOKEN to choose one): {token}");
        }
        let mode = if config.is_embedded() { "embedded" } else { "distributed" };
        tracing::info!(port, mode, "hookflow listening");
        // One plain line with the bound address, whatever the log level: with port 0 it is the
        // only way for a supervisor (or a test) to learn where the ingress listens.
        println!("hookflow: ingress listening on 127.0.0.1:{port}");
        println!("hookflow: ingress metrics listening on {metrics_address}");
        Ok(Self {
            port,
            admin_token: token,
            server,
            ops: ops.into_server(),
            metrics_port: metrics_address.port(),
            workers: transport.workers,
            health,
            background,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound port of the operator listener (`/metrics`, `/healthz`, `/readyz`).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Embedded mode: keeps the workers stopped until [`WorkerStarter::start`] is called, so
    /// tests can observe executions that wait in the queue (timeouts, deadlines). `None` in
    /// distributed mode, where workers are other processes.
    pub fn hold_workers(&mut self) -> Option<WorkerStarter> {
        self.workers.as_mut().map(|workers| WorkerStarter { sender: workers.hold() })
    }

    /// Serves until `stop` is cancelled (`main` cancels it on SIGTERM/SIGINT), then drains:
    /// `/readyz` turns 503, the server stops accepting and finishes the requests it holds
    /// (every sync caller gets its reply, or 408 at its deadline), embedded workers finish
    /// their executions and the recorder writes what it holds; async executions still queued
    /// stay in the journal and run after the next start.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let running = self.workers.map(Workers::spawn);
        self.health.watch(self.background.clone());
        let ops = self.ops.handle();
        let ops_task = tokio::spawn(self.ops);
        let handle = self.server.handle();
        // Spawned: the server processes the stop command only while it is polled.
        let mut server = tokio::spawn(self.server);
        let served = tokio::select! {
            served = &mut server => served,
            _ = stop.cancelled() => {
                self.health.begin_stopping();
                tracing::info!("stopping: no new connections; answering the requests held");
                handle.stop(true).await;
                server.await
            }
        };
        if let Some(running) = running {
            tracing::info!("stopping: finishing in-flight executions");
            running.stop().await;
        }
        ops.stop(true).await;
        if let Ok(Err(error)) = ops_task.await {
            tracing::warn!(%error, "the metrics listener failed");
        }
        self.background.cancel();
        tracing::info!("hookflow stopped");
        Ok(served??)
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

/// The HTTP server, with JSON errors for extractor failures too, and bounds on what a client
/// can hold: time to send headers, idle keep-alive, and connections at once (counted per
/// server thread by actix, so the total is split between them).
fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    max_connections: usize,
    drain: Duration,
) -> anyhow::Result<Server> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
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
    .workers(threads)
    .max_connections(max_connections.div_ceil(threads))
    .client_request_timeout(HEADER_TIMEOUT)
    .client_disconnect_timeout(DISCONNECT_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    // Signals are turned into the `stop` token by `main`; the drain is ordered in `run`.
    .disable_signals()
    .shutdown_timeout(drain.as_secs().saturating_add(1))
    .listen(listener)?
    .run();
    Ok(server)
}
