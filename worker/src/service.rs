//! The distributed worker process: consumes RabbitMQ (authenticated envelopes only), records to
//! PostgreSQL, replies over Redis (authenticated), follows workflow changes, and serves
//! `/metrics`, `/healthz`, `/readyz` on `HOOKFLOW_METRICS_LISTEN`. SIGTERM: stop consuming,
//! finish in-flight executions, write their records; unacked messages go back to the queue when
//! the connection closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use hookflow_shared::catalog::Catalog;
use hookflow_shared::config::Config;
use hookflow_shared::message_auth::MessageKeys;
use hookflow_shared::ops::{self, OpsServer, Readiness, Signals};
use hookflow_shared::queue::{watch_queue_depths, AmqpConsumer, QueueNames};
use hookflow_shared::redis_link::RedisLink;
use hookflow_shared::reply::RedisReplyBus;
use hookflow_shared::storage::Storage;
use hookflow_shared::workflow_sync::follow_changes;
use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;
use crate::runtime::{Journal, WorkerInputs, Workers};

/// What `/readyz` looks at.
struct Health {
    storage: Storage,
    redis: RedisLink,
    /// Follows the consumer's connection to RabbitMQ.
    broker: Arc<AtomicBool>,
}

#[async_trait]
impl Readiness for Health {
    async fn check(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("database", self.storage.ping().await.is_ok()),
            ("broker", self.broker.load(Ordering::SeqCst)),
            ("redis", self.redis.ping().await),
        ]
    }
}

/// Runs the worker until the process is told to stop.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let Some(amqp_url) = config.amqp_url.clone() else {
        bail!("the worker needs HOOKFLOW_AMQP_URL (distributed mode); in embedded mode the ingress runs its own workers")
    };
    let redis_url = config.redis_url.clone().context("HOOKFLOW_REDIS_URL is required in distributed mode")?;
    let keys = MessageKeys::derive(
        config.internal_key.as_deref().context("HOOKFLOW_INTERNAL_KEY is required in distributed mode")?,
    );
    let background = CancellationToken::new();
    let storage = Storage::connect(&config.database_url).await.context("connecting to the database")?;
    let catalog = Catalog::load(storage.clone()).await.context("loading workflows")?;
    let redis = RedisLink::start(&redis_url, background.clone()).context("HOOKFLOW_REDIS_URL")?;
    follow_changes(&redis, &config.namespace, catalog.clone(), background.clone());
    let replies = Arc::new(RedisReplyBus::publisher(redis.clone(), &config.namespace, keys.reply));

    let registry = Registry::new();
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

    let workers = Workers::new(
        &config,
        WorkerInputs { consumer: Box::new(consumer), catalog, storage: storage.clone(), replies, metrics },
        // RabbitMQ keeps the messages; there is no journal to settle.
        Journal::None,
    )
    .spawn();

    let health = Arc::new(Health { storage, redis, broker });
    // The operator listener is the worker's only server: SIGINT/SIGTERM stop it, and its end
    // starts the drain below.
    let ops = OpsServer::bind(config.metrics_listen, registry, health, Signals::Stop)?;
    let bound = ops.address();
    let server = ops.into_server();
    tracing::info!(listen = %bound, concurrency = config.worker_concurrency, "hookflow worker running");
    // As the ingress does: the bound address in one plain line (port 0 picks one).
    println!("hookflow: worker metrics listening on {bound}");
    // Returns on SIGINT/SIGTERM (actix stops its listener), then the executions drain.
    server.await?;
    tracing::info!("stopping: finishing in-flight executions");
    workers.stop().await;
    background.cancel();
    tracing::info!("hookflow worker stopped");
    Ok(())
}
