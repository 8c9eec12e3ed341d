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

use crate::retry::{pause, retry, Backoff, Policy};

/// Bound on one Redis command, so a hung server turns into a quick 503, not a hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a subscription checks that its connection still answers.
const PING_EVERY: Duration = Duration::from_secs(1);
/// The connection manager's own pause between reconnects.
const MANAGER_MAX_DELAY: Duration = Duration::from_secs(1);

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
            .set_max_delay(MANAGER_MAX_DELAY);
        let mut backoff = Backoff::new(Policy::RECONNECT);
        loop {
            match ConnectionManager::new_with_config(self.client.clone(), config.clone()).await {
                Ok(manager) => {
                    self.publisher.store(Some(Arc::new(manager)));
                    return;
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?delay, "Redis connection failed");
                    if !pause(delay, &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// One command on the shared connection, bounded by [`COMMAND_TIMEOUT`].
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, String> {
        let Some(manager) = self.publisher.load_full() else { return Err("not connected to Redis".into()) };
        let mut connection = ConnectionManager::clone(&manager);
        match tokio::time::timeout(COMMAND_TIMEOUT, command.query_async::<T>(&mut connection)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("Redis did not answer in time".into()),
        }
    }

    /// Runs `attempt` under [`Policy::COMMAND`]. A connection broken while Redis was away
    /// fails the first command after it returns (which makes the manager reconnect), so a
    /// command whose loss would cost a caller its answer is tried again before it fails.
    async fn retried<T, F: std::future::Future<Output = Result<T, String>>>(
        &self,
        attempt: impl FnMut() -> F,
    ) -> Result<T, String> {
        retry(Policy::COMMAND, "a Redis command", attempt, |_| true).await
    }

    /// PUBLISHes `payload` on `channel`, tried again a few times: a lost reply would leave a
    /// caller waiting for its whole timeout.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), String> {
        let mut command = redis::cmd("PUBLISH");
        command.arg(channel).arg(payload);
        self.retried(|| self.query::<i64>(&command)).await.map(|_| ())
    }

    /// `SET key value NX PX ttl_ms`, then the value the key holds: `value` when this call (or
    /// an earlier try of it) set it, the other one otherwise. Tried again like
    /// [`RedisLink::publish`]; reading back makes a retried SET that had landed still count.
    pub async fn set_nx(&self, key: &str, value: &str, ttl_ms: u64) -> Result<String, String> {
        let mut set = redis::cmd("SET");
        set.arg(key).arg(value).arg("NX").arg("PX").arg(ttl_ms);
        let mut get = redis::cmd("GET");
        get.arg(key);
        self.retried(|| async {
            if self.query::<Option<String>>(&set).await?.is_some() {
                return Ok(value.to_owned());
            }
            // Expired between the two commands: an error, so it is tried again.
            self.query::<Option<String>>(&get)
                .await?
                .ok_or_else(|| "the key expired while it was read".to_owned())
        })
        .await
    }

    /// `GET key`, bounded in time.
    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let mut command = redis::cmd("GET");
        command.arg(key);
        self.query(&command).await
    }

    /// `SET key value PX ttl_ms`, bounded in time.
    pub async fn set_px(&self, key: &str, value: &str, ttl_ms: u64) -> Result<(), String> {
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value).arg("PX").arg(ttl_ms.max(1));
        self.query(&command).await
    }

    /// Whether Redis answers a PING now.
    pub async fn ping(&self) -> bool {
        self.query::<String>(&redis::cmd("PING")).await.is_ok()
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
            let mut backoff = Backoff::new(Policy::RECONNECT);
            loop {
                let was_live = std::sync::atomic::AtomicBool::new(false);
                let live = |state: bool| {
                    was_live.fetch_or(state, std::sync::atomic::Ordering::SeqCst);
                    on_state(state);
                };
                match listen(&client, &channel, &shutdown, &live, &on_message).await {
                    Ok(()) => return,
                    Err(error) => {
                        on_state(false);
                        // A session that was live has proved the server: start short again.
                        if was_live.load(std::sync::atomic::Ordering::SeqCst) {
                            backoff.reset();
                        }
                        let delay = backoff.next_delay();
                        tracing::warn!(%error, %channel, retry_in = ?delay, "Redis subscription lost");
                        if !pause(delay, &shutdown).await {
                            return;
                        }
                    }
                }
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
