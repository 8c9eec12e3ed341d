//! The RabbitMQ backend (lapin). Topology (declared idempotently by every process at connect):
//! quorum queues `<ns>.executions.sync` and `<ns>.executions.async` with `x-delivery-limit`,
//! dead-lettering to `<ns>.executions.dead`. Messages are persistent JSON [`QueueMessage`]s.
//!
//! Every message carries the MAC of its exact body bytes ([`crate::message_auth`], envelope key)
//! in the `x-hookflow-mac` header. The consumer checks it before it parses anything; a message
//! without a valid one is rejected without requeue — the queues' dead-letter settings move it
//! to `<ns>.executions.dead` at once — never run or recorded, logged without its content and
//! counted (`hookflow_messages_rejected_total{kind="envelope"}`).
//!
//! The producer awaits the broker's confirm for each message before `publish` returns; many
//! publishes share one confirm-mode channel, so confirms are pipelined rather than one round
//! trip at a time. Both sides reconnect by themselves with backoff; while the broker is away
//! `publish` fails at once (the ingress answers 503) instead of waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use prometheus::IntCounter;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Acker, Delivery, QueueConsumer, QueueError, QueueProducer};
use crate::budget::{ByteBudget, Share};
use crate::execution::{ExecutionRequest, QueueMessage};
use crate::json_cost::parse_cost;
use crate::message_auth::MessageKey;
use crate::model::Mode;
use crate::retry::{pause, Backoff, Policy};

/// The AMQP header that carries an envelope's MAC.
pub const MAC_HEADER: &str = "x-hookflow-mac";

/// Deliveries that may fail (nack, or a consumer that died holding them) before a message is
/// dead-lettered.
pub const DELIVERY_LIMIT: u32 = 5;

/// Longest wait between reconnection attempts: short, so service resumes within seconds.
/// Longest wait for the broker to confirm a consumer connection's close at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a consuming session to open (connection, channel, queues, consumers).
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The queue names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNames {
    pub sync: String,
    pub asynchronous: String,
    pub dead: String,
}

impl QueueNames {
    pub fn new(namespace: &str) -> Self {
        Self {
            sync: format!("{namespace}.executions.sync"),
            asynchronous: format!("{namespace}.executions.async"),
            dead: format!("{namespace}.executions.dead"),
        }
    }

    fn for_mode(&self, mode: Mode) -> &str {
        match mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    Connection::connect(url, properties).await
}

/// Declares the three queues; declaring what exists with the same arguments is a no-op.
async fn declare(channel: &Channel, names: &QueueNames) -> Result<(), lapin::Error> {
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let mut dead_args = FieldTable::default();
    dead_args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    channel.queue_declare(names.dead.as_str().into(), durable, dead_args).await?;
    for queue in [&names.sync, &names.asynchronous] {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(i64::from(DELIVERY_LIMIT)));
        args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
        args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(names.dead.as_str().into()));
        channel.queue_declare(queue.as_str().into(), durable, args).await?;
    }
    Ok(())
}

/// A live publishing connection.
struct ProducerSession {
    /// Kept so the connection lives as long as its channel.
    _connection: Connection,
    channel: Channel,
}

struct ProducerShared {
    url: String,
    names: QueueNames,
    /// Signs every envelope ([`MAC_HEADER`]).
    key: MessageKey,
    session: ArcSwapOption<ProducerSession>,
    /// Wakes the reconnect task early when a publish saw the connection fail.
    broken: Notify,
}

/// Publishes executions with publisher confirms. Cheap to clone.
#[derive(Clone)]
pub struct AmqpProducer {
    shared: Arc<ProducerShared>,
}

impl AmqpProducer {
    /// Starts connecting (in the background, until `shutdown`); usable at once, failing with
    /// `Unavailable` until the broker answers.
    pub async fn start(url: &str, names: QueueNames, key: MessageKey, shutdown: CancellationToken) -> Self {
        let shared = Arc::new(ProducerShared {
            url: url.to_owned(),
            names,
            key,
            session: ArcSwapOption::empty(),
            broken: Notify::new(),
        });
        // One attempt up front so a healthy start is ready before the first request.
        if let Err(error) = open_producer(&shared).await {
            tracing::warn!(%error, "RabbitMQ unreachable at start; webhooks answer 503 until it is back");
        }
        tokio::spawn(keep_producer_connected(shared.clone(), shutdown));
        Self { shared }
    }

    /// Whether a publish could succeed now (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.shared.session.load().as_ref().is_some_and(|s| s.channel.status().connected())
    }
}

async fn open_producer(shared: &ProducerShared) -> Result<(), lapin::Error> {
    let connection = connect(&shared.url, "hookflow-ingress").await?;
    let channel = connection.create_channel().await?;
    declare(&channel, &shared.names).await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    shared.session.store(Some(Arc::new(ProducerSession { _connection: connection, channel })));
    tracing::info!("connected to RabbitMQ (publisher)");
    Ok(())
}

async fn keep_producer_connected(shared: Arc<ProducerShared>, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(Policy::RECONNECT);
    loop {
        let healthy = shared.session.load().as_ref().is_some_and(|s| s.channel.status().connected());
        if healthy {
            backoff.reset();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = shared.broken.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            continue;
        }
        shared.session.store(None);
        if let Err(error) = open_producer(&shared).await {
            let delay = backoff.next_delay();
            tracing::warn!(%error, retry_in = ?delay, "RabbitMQ connection failed");
            if !pause(delay, &shutdown).await {
                return;
            }
        }
    }
}

#[async_trait]
impl QueueProducer for AmqpProducer {
    async fn publish(&self, request: ExecutionRequest) -> Result<(), QueueError> {
        let Some(session) = self.shared.session.load_full() else {
            return Err(unavailable("not connected to RabbitMQ"));
        };
        if !session.channel.status().connected() {
            self.shared.broken.notify_one();
            return Err(unavailable("the RabbitMQ connection is down"));
        }
        let routing_key = self.shared.names.for_mode(request.mode).to_owned();
        let message_id = request.execution_id.to_string();
        let payload = QueueMessage::encode(&request).map_err(unavailable)?.into_bytes();
        let mut headers = FieldTable::default();
        headers.insert(MAC_HEADER.into(), AMQPValue::LongString(self.shared.key.sign(&payload).into()));
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(message_id))
            .with_headers(headers);
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let result = async {
            let confirm = session
                .channel
                .basic_publish("".into(), routing_key.into(), options, &payload, properties)
                .await?;
            confirm.await
        }
        .await;
        match result {
            Ok(confirmation) if confirmation.is_nack() => Err(unavailable("RabbitMQ refused the message")),
            Ok(confirmation) => match confirmation.take_message() {
                Some(_) => Err(unavailable("RabbitMQ could not route the message to its queue")),
                None => Ok(()),
            },
            // Sent (or being sent) when the connection failed: the broker may have it.
            Err(error) => {
                self.shared.broken.notify_one();
                Err(QueueError::Uncertain(error.to_string()))
            }
        }
    }
}

/// A live consuming connection with its two consumers.
struct ConsumerSession {
    connection: Connection,
    sync: lapin::Consumer,
    asynchronous: lapin::Consumer,
}

/// Receives executions from both queues, sync first, reconnecting by itself.
pub struct AmqpConsumer {
    url: String,
    names: QueueNames,
    prefetch: u16,
    session: Option<ConsumerSession>,
    backoff: Backoff,
    /// Whether a consuming session is live (for `/readyz`).
    connected: Arc<AtomicBool>,
    /// Checks every message's [`MAC_HEADER`] before it is parsed.
    key: MessageKey,
    /// `hookflow_messages_rejected_total{kind="envelope"}`.
    rejected: IntCounter,
    /// Memory the executions received and not yet settled may take once parsed.
    memory: ByteBudget,
}

impl AmqpConsumer {
    /// `prefetch` bounds unacked deliveries per queue (`HOOKFLOW_WORKER_CONCURRENCY`); `key`
    /// is the envelope key; `rejected` counts messages refused for want of a valid MAC.
    /// `memory_bytes` bounds what the deliveries being run take once parsed: a message is
    /// parsed only when its estimated share fits, and gives it back when settled.
    pub fn new(
        url: &str,
        names: QueueNames,
        prefetch: u16,
        key: MessageKey,
        rejected: IntCounter,
        memory_bytes: usize,
    ) -> Self {
        Self {
            url: url.to_owned(),
            names,
            prefetch,
            session: None,
            backoff: Backoff::new(Policy::RECONNECT),
            connected: Arc::new(AtomicBool::new(false)),
            key,
            rejected,
            memory: ByteBudget::new(memory_bytes),
        }
    }

    /// A flag that follows the connection state.
    pub fn connected(&self) -> Arc<AtomicBool> {
        self.connected.clone()
    }

    /// Drops a failed session, then waits the next backoff before the next attempt. The old
    /// connection is closed, not just dropped: while it lives, the broker keeps its prefetched
    /// messages checked out to it, and they would wait there instead of going to a consumer.
    async fn lose_session_and_wait(&mut self, why: &str) {
        if let Some(session) = self.session.take() {
            let close = session.connection.close(200, "consumer lost".into());
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
        }
        self.connected.store(false, Ordering::SeqCst);
        let delay = self.backoff.next_delay();
        tracing::warn!(error = why, retry_in = ?delay, "RabbitMQ consumer lost; reconnecting");
        tokio::time::sleep(delay).await;
    }

    async fn open(&self) -> Result<ConsumerSession, lapin::Error> {
        let connection = connect(&self.url, "hookflow-worker").await?;
        let channel = connection.create_channel().await?;
        declare(&channel, &self.names).await?;
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await?;
        let consume = |queue: &str| {
            channel.basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
        };
        let sync = consume(&self.names.sync).await?;
        let asynchronous = consume(&self.names.asynchronous).await?;
        tracing::info!("connected to RabbitMQ (consumer)");
        Ok(ConsumerSession { connection, sync, asynchronous })
    }
}

/// The MAC a message carries, if any; a header of another type counts as a malformed MAC.
fn mac_of(properties: &BasicProperties) -> Option<&[u8]> {
    match properties.headers().as_ref()?.inner().get(MAC_HEADER)? {
        AMQPValue::LongString(text) => Some(text.as_bytes()),
        _ => Some(&[]),
    }
}

/// How often the message was delivered before, from the quorum queue's header.
fn previous_deliveries(properties: &BasicProperties) -> u32 {
    let Some(headers) = properties.headers() else { return 0 };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

#[async_trait]
impl QueueConsumer for AmqpConsumer {
    async fn receive(&mut self) -> Result<Delivery, QueueError> {
        loop {
            let Some(session) = self.session.as_mut() else {
                // Bounded: a broker still starting may accept the connection and never finish
                // the handshake or the consume.
                let opened = match tokio::time::timeout(OPEN_TIMEOUT, self.open()).await {
                    Ok(opened) => opened.map_err(|error| error.to_string()),
                    Err(_) => Err(format!("no answer within {OPEN_TIMEOUT:?}")),
                };
                match opened {
                    // The backoff is reset by the first delivery, not here: a broker that
                    // accepts consumers and drops them again (a node still starting) would
                    // otherwise be reconnected to in a tight loop, each round handing back the
                    // prefetched messages and counting a delivery against their limit.
                    Ok(session) => {
                        self.session = Some(session);
                        self.connected.store(true, Ordering::SeqCst);
                    }
                    Err(error) => {
                        let delay = self.backoff.next_delay();
                        tracing::warn!(%error, retry_in = ?delay, "RabbitMQ connection failed");
                        tokio::time::sleep(delay).await;
                    }
                }
                continue;
            };
            let next = tokio::select! {
                biased;
                delivery = session.sync.next() => delivery,
                delivery = session.asynchronous.next() => delivery,
            };
            let delivery = match next {
                Some(Ok(delivery)) => {
                    self.backoff.reset();
                    delivery
                }
                Some(Err(error)) => {
                    self.lose_session_and_wait(&error.to_string()).await;
                    continue;
                }
                None => {
                    self.lose_session_and_wait("the consumer ended").await;
                    continue;
                }
            };
            // Authenticated first: nothing of an unauthenticated message is parsed, run or kept.
            if let Err(error) = self.key.verify(&delivery.data, mac_of(&delivery.properties)) {
                self.rejected.inc();
                tracing::warn!(
                    queue = %delivery.routing_key,
                    bytes = delivery.data.len(),
                    reason = %error,
                    "refused a queue message that is not authenticated; it goes to the dead letters"
                );
                // No requeue: the queues' dead-letter settings move it to `<ns>.executions.dead`.
                let reject = BasicRejectOptions { requeue: false };
                if let Err(reject_error) = delivery.acker.reject(reject).await {
                    tracing::warn!(error = %reject_error, "rejecting an unauthenticated message failed");
                }
                return Err(QueueError::Poison {
                    reason: format!("not authenticated: {error}"),
                    dead_lettered: true,
                });
            }
            let attempt = previous_deliveries(&delivery.properties).saturating_add(1);
            let last_attempt = attempt > DELIVERY_LIMIT;
            // Prefetched messages wait here as text until their parsed form fits the budget.
            let share = self.memory.take(parse_cost(&delivery.data)).await;
            match serde_json::from_slice::<QueueMessage>(&delivery.data) {
                Ok(QueueMessage::ExecuteV1(request)) => {
                    return Ok(Delivery {
                        request,
                        attempt,
                        last_attempt,
                        acker: Box::new(AmqpAcker { acker: delivery.acker, _share: share }),
                    })
                }
                Err(error) => {
                    // Returned, not dropped: a newer process may read it; past the limit it is
                    // dead-lettered where an operator can look at it.
                    let requeue = BasicNackOptions { requeue: true, multiple: false };
                    if let Err(nack_error) = delivery.acker.nack(requeue).await {
                        tracing::warn!(error = %nack_error, "nack of an unreadable message failed");
                    }
                    return Err(QueueError::Poison {
                        reason: error.to_string(),
                        dead_lettered: last_attempt,
                    });
                }
            }
        }
    }

    async fn close(self: Box<Self>) {
        self.connected.store(false, Ordering::SeqCst);
        let Some(session) = self.session else { return };
        // The broker takes back whatever is still unacked (prefetched, never started) once
        // it has read the acks sent before this close. Bounded: a broker that is gone
        // cannot answer, and dropping the connection then loses nothing more.
        let close = session.connection.close(200, "worker stopping".into());
        match tokio::time::timeout(CLOSE_TIMEOUT, close).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "closing the RabbitMQ consumer connection failed"),
            Err(_) => tracing::warn!("RabbitMQ did not confirm the consumer connection's close in time"),
        }
    }
}

/// Settles a delivery; its share of the consumer's memory budget is given back with it.
struct AmqpAcker {
    acker: lapin::Acker,
    _share: Share,
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        self.acker.ack(BasicAckOptions::default()).await.map(|_| ()).map_err(unavailable)
    }

    async fn nack(self: Box<Self>) -> Result<(), QueueError> {
        self.acker
            .nack(BasicNackOptions { requeue: true, multiple: false })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// How often queue depths are read.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// Reports the number of ready messages of each queue every few seconds (a passive declare
/// on a connection of its own), until `shutdown`.
pub fn watch_queue_depths(
    url: &str,
    names: QueueNames,
    shutdown: CancellationToken,
    report: impl Fn(&str, u32) + Send + 'static,
) {
    let url = url.to_owned();
    tokio::spawn(async move {
        let mut session: Option<(Connection, Channel)> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(DEPTH_EVERY) => {}
            }
            if session.as_ref().is_none_or(|(_, channel)| !channel.status().connected()) {
                session = match connect(&url, "hookflow-queue-depths").await {
                    Ok(connection) => {
                        connection.create_channel().await.ok().map(|channel| (connection, channel))
                    }
                    Err(_) => None,
                };
            }
            let Some((_, channel)) = &session else { continue };
            for queue in [&names.sync, &names.asynchronous, &names.dead] {
                let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
                match channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await {
                    Ok(declared) => report(queue, declared.message_count()),
                    Err(_) => break,
                }
            }
        }
    });
}
