//! The distributed worker process: consumes RabbitMQ, records to PostgreSQL, replies over
//! Redis, follows workflow changes, and serves `/metrics`, `/healthz`, `/readyz` on
//! `HOOKFLOW_METRICS_LISTEN`. SIGTERM: stop consuming, finish in-flight executions, write their
//! records; unacked messages go back to the queue when the connection closes.

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{bail, Context};
use hookflow_shared::catalog::Catalog;
use hookflow_shared::config::Config;
use hookflow_shared::queue::{watch_queue_depths, AmqpConsumer, QueueNames};
use hookflow_shared::redis_link::RedisLink;
use hookflow_shared::reply::RedisReplyBus;
use hookflow_shared::storage::Storage;
use hookflow_shared::workflow_sync::follow_changes;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;
use crate::runtime::{Journal, WorkerInputs, Workers};

/// What the health endpoints look at.
struct Health {
    registry: Registry,
    storage: Storage,
    redis: RedisLink,
    broker: Arc<std::sync::atomic::AtomicBool>,
}

/// Runs the worker until the process is told to stop.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let Some(amqp_url) = config.amqp_url.clone() else {
        bail!("the worker needs HOOKFLOW_AMQP_URL (distributed mode); in embedded mode the ingress runs its own workers")
    };
    let redis_url = config.redis_url.clone().context("HOOKFLOW_REDIS_URL is required in distributed mode")?;
    let background = CancellationToken::new();
    let storage = Storage::connect(&config.database_url).await.context("connecting to the database")?;
    let catalog = Catalog::load(storage.clone()).await.context("loading workflows")?;
    let redis = RedisLink::start(&redis_url, background.clone()).context("HOOKFLOW_REDIS_URL")?;
    follow_changes(&redis, &config.namespace, catalog.clone(), background.clone());
    let replies = Arc::new(RedisReplyBus::start(redis.clone(), &config.namespace, false, background.clone()));

    let registry = Registry::new();
    let metrics = WorkerMetrics::new(&registry)?;
    let names = QueueNames::new(&config.namespace);
    let prefetch = u16::try_from(config.worker_concurrency).unwrap_or(u16::MAX);
    let consumer = AmqpConsumer::new(&amqp_url, names.clone(), prefetch);
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

    let health = web::Data::new(Health { registry, storage, redis, broker });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(health.clone())
            .route("/metrics", web::get().to(metrics_text))
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .bind(config.metrics_listen)
    .with_context(|| format!("binding HOOKFLOW_METRICS_LISTEN {}", config.metrics_listen))?;
    let bound = server.addrs().first().copied().unwrap_or(config.metrics_listen);
    let server = server.run();
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

async fn metrics_text(health: web::Data<Health>) -> HttpResponse {
    let mut out = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&health.registry.gather(), &mut out) {
        tracing::warn!(%error, "encoding metrics failed");
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out)
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    let database = health.storage.ping().await.is_ok();
    let redis = health.redis.ping().await;
    let broker = health.broker.load(std::sync::atomic::Ordering::SeqCst);
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let body = json!({ "database": word(database), "broker": word(broker), "redis": word(redis) });
    if database && redis && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
