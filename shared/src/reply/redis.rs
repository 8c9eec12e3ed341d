//! The distributed reply bus: each ingress instance subscribes once to
//! `<ns>:reply:<instance-id>`; workers PUBLISH the [`Reply`] there in its authenticated wire
//! form ([`super::sealed`]: `<MAC hex>.<reply JSON>`). The ingress checks the MAC before it
//! reads anything; a message that is not authenticated or not a sendable reply is dropped,
//! logged without its content and counted (`hookflow_messages_rejected_total{kind="reply"}`),
//! so that whoever can publish on Redis cannot answer a caller in a workflow's name.
//!
//! While the subscription is down, new sync callers are refused (503) and those already
//! waiting are released at once instead of running into their timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use prometheus::IntCounter;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::{sealed, Answer, PendingReplies, Reply, ReplyBus, ReplyError, ReplyWaiter};
use crate::message_auth::MessageKey;
use crate::redis_link::RedisLink;

/// Replies over Redis pub/sub.
pub struct RedisReplyBus {
    link: RedisLink,
    namespace: String,
    /// This instance's id, sent as `reply_to`.
    address: String,
    /// Signs what this process publishes (and, listening, checks what it receives).
    key: MessageKey,
    pending: PendingReplies,
    listening: Arc<AtomicBool>,
}

impl RedisReplyBus {
    /// A bus that only publishes replies (the worker).
    pub fn publisher(link: RedisLink, namespace: &str, key: MessageKey) -> Self {
        Self {
            link,
            namespace: namespace.to_owned(),
            address: Uuid::now_v7().simple().to_string(),
            key,
            pending: PendingReplies::default(),
            listening: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A bus that also receives replies for this instance (the ingress): subscribes in the
    /// background to its reply channel until `shutdown`. `rejected` counts the messages dropped
    /// there.
    pub fn listener(
        link: RedisLink,
        namespace: &str,
        key: MessageKey,
        rejected: IntCounter,
        shutdown: CancellationToken,
    ) -> Self {
        let bus = Self::publisher(link, namespace, key);
        let state = bus.listening.clone();
        let on_lost = bus.pending.clone();
        let deliver_to = bus.pending.clone();
        let key = bus.key.clone();
        bus.link.subscribe(
            reply_channel(namespace, &bus.address),
            shutdown,
            move |live| {
                state.store(live, Ordering::SeqCst);
                if !live {
                    on_lost.release_all();
                }
            },
            move |payload| match sealed::open(&key, payload) {
                Ok(reply) => {
                    deliver_to.deliver(reply);
                }
                Err(reason) => {
                    rejected.inc();
                    tracing::warn!(%reason, bytes = payload.len(), "dropped a reply message");
                }
            },
        );
        bus
    }

    /// Whether sync callers can be answered now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }
}

/// How a decision reads in Redis: a timeout, or `reply ` and the sealed reply.
const TIMEOUT_ANSWER: &str = "timeout";
const REPLY_ANSWER: &str = "reply ";

impl RedisReplyBus {
    fn answer_key(&self, execution_id: Uuid) -> String {
        format!("{}:answer:{}", self.namespace, execution_id.simple())
    }
}

/// The Redis channel of the instance at `address`.
pub fn reply_channel(namespace: &str, address: &str) -> String {
    format!("{namespace}:reply:{address}")
}

#[async_trait]
impl ReplyBus for RedisReplyBus {
    fn address(&self) -> &str {
        &self.address
    }

    fn register(&self, execution_id: Uuid) -> Result<ReplyWaiter, ReplyError> {
        if !self.is_listening() {
            return Err(ReplyError::Unavailable("not subscribed to Redis".into()));
        }
        Ok(self.pending.register(execution_id))
    }

    async fn publish(&self, reply_to: &str, reply: Reply) -> Result<(), ReplyError> {
        let payload = sealed::seal(&self.key, &reply).map_err(|e| ReplyError::Unavailable(e.to_string()))?;
        self.link
            .publish(&reply_channel(&self.namespace, reply_to), &payload)
            .await
            .map_err(ReplyError::Unavailable)
    }

    /// `SET <ns>:answer:<id> <answer> NX PX <ms>`: whoever sets it answers; the other side
    /// reads which answer won. A worker's answer is its sealed reply.
    async fn decide(
        &self,
        execution_id: Uuid,
        answer: &Answer,
        keep_until: DateTime<Utc>,
    ) -> Result<bool, ReplyError> {
        let ttl = (keep_until - Utc::now()).num_milliseconds().max(1000);
        let ttl = u64::try_from(ttl).unwrap_or(1000);
        let value = match answer {
            Answer::Timeout => TIMEOUT_ANSWER.to_owned(),
            Answer::Reply(reply) => {
                let sealed =
                    sealed::seal(&self.key, reply).map_err(|e| ReplyError::Unavailable(e.to_string()))?;
                format!("{REPLY_ANSWER}{}", String::from_utf8_lossy(&sealed))
            }
        };
        let stored = self
            .link
            .set_nx(&self.answer_key(execution_id), &value, ttl)
            .await
            .map_err(ReplyError::Unavailable)?;
        Ok(stored == value)
    }

    async fn decision(&self, execution_id: Uuid) -> Result<Option<Answer>, ReplyError> {
        let stored = self.link.get(&self.answer_key(execution_id)).await.map_err(ReplyError::Unavailable)?;
        let Some(stored) = stored else { return Ok(None) };
        if stored == TIMEOUT_ANSWER {
            return Ok(Some(Answer::Timeout));
        }
        let Some(sealed) = stored.strip_prefix(REPLY_ANSWER) else { return Ok(None) };
        match sealed::open(&self.key, sealed.as_bytes()) {
            Ok(reply) if reply.execution_id == execution_id => Ok(Some(Answer::Reply(reply))),
            Ok(_) | Err(_) => {
                tracing::warn!(execution = %execution_id, "a decided reply failed its seal; ignored");
                Ok(None)
            }
        }
    }

    /// The decision expires by itself (`keep_until`): a shared Redis is not written twice.
    fn forget(&self, _execution_id: Uuid) {}
}
