//! One Redis connection point shared by the reply bus and workflow announcements: PUBLISH
//! through a self-healing connection, and SUBSCRIBE loops that reconnect by themselves and
//! report whether they are currently listening.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Bound on one Redis command, so a hung server turns into a quick 503, not a hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a subscription checks that its connection still answers.
const PING_EVERY: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Tries of one PUBLISH.
const PUBLISH_ATTEMPTS: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A Redis server, for publishing and subscribing.
#[derive(Clone)]
pub struct RedisLink {
    client: redis::Client,
    /// Set once the first connection succeeds; it reconnects by itself afterwards.
    publisher: Arc<ArcSwapOption<ConnectionManager>>,
}

impl RedisLink {
    /// Parses the URL and starts connecting in the background until `shutdown`.
    pub fn start(url: &str, shutdown: CancellationToken) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let link = Self { client, publisher: Arc::new(ArcSwapOption::empty()) };
        tokio::spawn(link.clone().connect_publisher(shutdown));
        Ok(link)
    }

    async fn connect_publisher(self, shutdown: CancellationToken) {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(MAX_BACKOFF);
        let mut backoff = MIN_BACKOFF;
        loop {
            match ConnectionManager::new_with_config(self.client.clone(), config.clone()).await {
                Ok(manager) => {
                    self.publisher.store(Some(Arc::new(manager)));
                    return;
                }
                Err(error) => tracing::warn!(%error, retry_in = ?backoff, "Redis connection failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// PUBLISHes `payload` on `channel`. A connection broken while Redis was away fails the
    /// first command after it returns (which makes the manager reconnect), so a failed publish
    /// is tried again a few times before it is reported: a lost reply would leave a caller
    /// waiting for its whole timeout.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), String> {
        let mut last_error = String::new();
        for attempt in 0..PUBLISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(MIN_BACKOFF * attempt).await;
            }
            match self.publish_once(channel, payload).await {
                Ok(()) => return Ok(()),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    async fn publish_once(&self, channel: &str, payload: &[u8]) -> Result<(), String> {
        let Some(manager) = self.publisher.load_full() else { return Err("not connected to Redis".into()) };
        let mut connection = ConnectionManager::clone(&manager);
        let mut command = redis::cmd("PUBLISH");
        command.arg(channel).arg(payload);
        match tokio::time::timeout(COMMAND_TIMEOUT, command.query_async::<i64>(&mut connection)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("Redis did not answer in time".into()),
        }
    }

    /// `SET key value NX PX ttl_ms`, then the value the key holds: `value` when this call (or
    /// an earlier try of it) set it, the other one otherwise. Tried again like
    /// [`RedisLink::publish`]; reading back makes a retried SET that had landed still count.
    pub async fn set_nx(&self, key: &str, value: &str, ttl_ms: u64) -> Result<String, String> {
        let mut last_error = String::new();
        for attempt in 0..PUBLISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(MIN_BACKOFF * attempt).await;
            }
            let Some(manager) = self.publisher.load_full() else {
                last_error = "not connected to Redis".into();
                continue;
            };
            let mut connection = ConnectionManager::clone(&manager);
            let mut set = redis::cmd("SET");
            set.arg(key).arg(value).arg("NX").arg("PX").arg(ttl_ms);
            let mut get = redis::cmd("GET");
            get.arg(key);
            let both = async {
                let set: Option<String> = set.query_async(&mut connection).await?;
                if set.is_some() {
                    return Ok(Some(value.to_owned()));
                }
                get.query_async::<Option<String>>(&mut connection).await
            };
            match tokio::time::timeout(COMMAND_TIMEOUT, both).await {
                Ok(Ok(Some(stored))) => return Ok(stored),
                // Expired between the two commands: try again.
                Ok(Ok(None)) => last_error = "the key expired while it was read".into(),
                Ok(Err(error)) => last_error = error.to_string(),
                Err(_) => last_error = "Redis did not answer in time".into(),
            }
        }
        Err(last_error)
    }

    /// `GET key`, bounded in time.
    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let Some(manager) = self.publisher.load_full() else { return Err("not connected to Redis".into()) };
        let mut connection = ConnectionManager::clone(&manager);
        let mut command = redis::cmd("GET");
        command.arg(key);
        match tokio::time::timeout(COMMAND_TIMEOUT, command.query_async::<Option<String>>(&mut connection))
            .await
        {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("Redis did not answer in time".into()),
        }
    }

    /// `SET key value PX ttl_ms`, bounded in time.
    pub async fn set_px(&self, key: &str, value: &str, ttl_ms: u64) -> Result<(), String> {
        let Some(manager) = self.publisher.load_full() else { return Err("not connected to Redis".into()) };
        let mut connection = ConnectionManager::clone(&manager);
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value).arg("PX").arg(ttl_ms.max(1));
        match tokio::time::timeout(COMMAND_TIMEOUT, command.query_async::<()>(&mut connection)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("Redis did not answer in time".into()),
        }
    }

    /// Whether Redis answers a PING now.
    pub async fn ping(&self) -> bool {
        let Some(manager) = self.publisher.load_full() else { return false };
        let mut connection = ConnectionManager::clone(&manager);
        let command = redis::cmd("PING");
        matches!(
            tokio::time::timeout(COMMAND_TIMEOUT, command.query_async::<String>(&mut connection)).await,
            Ok(Ok(_))
        )
    }

    /// Listens on `channel` until `shutdown`, reconnecting with backoff. `on_state(true)` when
    /// the subscription is live, `on_state(false)` when it is lost; `on_message` per payload.
    pub fn subscribe(
        &self,
        channel: String,
        shutdown: CancellationToken,
        on_state: impl Fn(bool) + Send + Sync + 'static,
        on_message: impl Fn(&[u8]) + Send + Sync + 'static,
    ) -> JoinHandle<()> {
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut backoff = MIN_BACKOFF;
            loop {
                match listen(&client, &channel, &shutdown, &on_state, &on_message).await {
                    Ok(()) => return,
                    Err(error) => {
                        on_state(false);
                        tracing::warn!(%error, %channel, retry_in = ?backoff, "Redis subscription lost");
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        })
    }
}

/// One subscription session: `Ok` on shutdown, `Err` when the connection fails.
async fn listen(
    client: &redis::Client,
    channel: &str,
    shutdown: &CancellationToken,
    on_state: &(impl Fn(bool) + Send + Sync),
    on_message: &(impl Fn(&[u8]) + Send + Sync),
) -> Result<(), String> {
    let connect = client.get_async_pubsub();
    let pubsub = match tokio::time::timeout(COMMAND_TIMEOUT, connect).await {
        Ok(result) => result.map_err(|e| e.to_string())?,
        Err(_) => return Err("connecting timed out".into()),
    };
    let (mut sink, mut stream) = pubsub.split();
    sink.subscribe(channel).await.map_err(|e| e.to_string())?;
    on_state(true);
    let mut ticker = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            message = stream.next() => match message {
                Some(message) => on_message(message.get_payload_bytes()),
                None => return Err("connection closed".into()),
            },
            _ = ticker.tick() => {
                // A server that vanished without closing the socket is noticed here.
                match tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return Err(error.to_string()),
                    Err(_) => return Err("ping timed out".into()),
                }
            }
        }
    }
}
