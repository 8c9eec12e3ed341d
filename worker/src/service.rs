//! The distributed worker process: consumes RabbitMQ (authenticated envelopes only), records to
//! PostgreSQL, replies over Redis (authenticated), follows workflow changes, and serves
//! `/metrics`, `/healthz`, `/readyz` on `HOOKFLOW_METRICS_LISTEN`. SIGTERM: stop consuming,
//! finish in-flight executions, write their records; unacked messages go back to the queue when
//! the connection closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context};
use hookflow_shared::catalog::Catalog;
use hookflow_shared::config::Config;
use hookflow_shared::health::{Dependency, Health};
use hookflow_shared::message_auth::MessageKeys;
use hookflow_shared::ops::{self, OpsServer};
use hookflow_shared::queue::{watch_queue_depths, AmqpConsumer, QueueNames};
use hookflow_shared::redis_link::RedisLink;
use hookflow_shared::reply::RedisReplyBus;
use hookflow_shared::storage::Storage;
use hookflow_shared::workflow_sync::follow_changes;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;
use crate::runtime::{Journal, WorkerInputs, Workers};

/// Runs the worker until `stop` is cancelled (`main` cancels it on SIGTERM/SIGINT), then
/// drains: `/readyz` turns 503, no new deliveries are taken, in-flight executions finish and
/// their records are written and acked (or, when the database stays away, returned to the
/// queue), and the operator listener stops last.
pub async fn run(config: Config, stop: CancellationToken) -> anyhow::Result<()> {
    let background = CancellationToken::new();
    // A start that hangs (a broker or database that does not answer) still ends on a signal.
    let started = tokio::select! {
        started = start(&config, &background) => started?,
        _ = stop.cancelled() => {
            background.cancel();
            tracing::info!("stopped while starting");
            return Ok(());
        }
    };
    started.serve(stop, background).await
}

/// A worker connected and ready to consume.
struct Started {
    workers: Workers,
    health: Arc<Health>,
    ops: OpsServer,
    concurrency: usize,
}

async fn start(config: &Config, background: &CancellationToken) -> anyhow::Result<Started> {
    let Some(amqp_url) = config.amqp_url.clone() else {
        bail!("the worker needs HOOKFLOW_AMQP_URL (distributed mode); in embedded mode the ingress runs its own workers")
    };
    let redis_url = config.redis_url.clone().context("HOOKFLOW_REDIS_URL is required in distributed mode")?;
    let keys = MessageKeys::derive(
        config.internal_key.as_deref().context("HOOKFLOW_INTERNAL_KEY is required in distributed mode")?,
    );
    let storage = Storage::connect(&config.database_url).await.context("connecting to the database")?;
    let catalog = Catalog::load(storage.clone()).await.context("loading workflows")?;
    let redis = RedisLink::start(&redis_url, background.clone()).context("HOOKFLOW_REDIS_URL")?;
    follow_changes(&redis, &config.namespace, catalog.clone(), background.clone());
    let replies = Arc::new(RedisReplyBus::publisher(redis.clone(), &config.namespace, keys.reply));

    let registry = ops::new_registry()?;
    let metrics = WorkerMetrics::new(&registry)?;
    let names = QueueNames::new(&config.namespace);
    let prefetch = u16::try_from(config.worker_concurrency).unwrap_or(u16::MAX);
    let rejected = ops::rejected_messages(&registry, "envelope")?;
    let consumer = AmqpConsumer::new(
        &amqp_url,
        names.clone(),
        prefetch,
        keys.envelope,
        rejected,
        config.queue_memory_bytes,
    );
    let broker = consumer.connected();
    let depths = metrics.clone();
    watch_queue_depths(&amqp_url, names, background.clone(), move |queue, depth| {
        depths.set_queue_depth(queue, depth)
    });

    // A worker needs all three: executions come from the broker, are recorded in the
    // database, and sync ones are answered over Redis.
    let database = storage.clone();
    let health = Health::new(
        &registry,
        vec![
            Dependency::required("database", move || {
                let storage = database.clone();
                async move { storage.ping().await.is_ok() }
            }),
            Dependency::required("broker", move || {
                let connected = broker.load(Ordering::SeqCst);
                async move { connected }
            }),
            Dependency::required("redis", move || {
                let redis = redis.clone();
                async move { redis.ping().await }
            }),
        ],
    )
    .await?;
    health.watch(background.clone());

    let workers = Workers::new(
        config,
        WorkerInputs { consumer: Box::new(consumer), catalog, storage, replies, metrics },
        // RabbitMQ keeps the messages; there is no journal to settle.
        Journal::None,
    );
    let ops = OpsServer::bind(config.metrics_listen, registry, health.clone())?;
    Ok(Started { workers, health, ops, concurrency: config.worker_concurrency })
}

impl Started {
    async fn serve(self, stop: CancellationToken, background: CancellationToken) -> anyhow::Result<()> {
        let Started { workers, health, ops, concurrency } = self;
        let workers = workers.spawn();
        let bound = ops.address();
        let server = ops.into_server();
        let handle = server.handle();
        // Spawned: the server processes the stop command only while it is polled.
        let mut server = tokio::spawn(server);
        tracing::info!(listen = %bound, concurrency, "hookflow worker running");
        // As the ingress does: the bound address in one plain line (port 0 picks one).
        println!("hookflow: worker metrics listening on {bound}");
        let ended_early = tokio::select! {
            served = &mut server => Some(served),
            _ = stop.cancelled() => None,
        };
        health.begin_stopping();
        tracing::info!("stopping: finishing in-flight executions");
        workers.stop().await;
        let served = match ended_early {
            Some(served) => served,
            None => {
                handle.stop(true).await;
                server.await
            }
        };
        background.cancel();
        tracing::info!("hookflow worker stopped");
        Ok(served??)
    }
}
