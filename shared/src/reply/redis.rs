//! The distributed reply bus: each ingress instance subscribes once to
//! `<ns>:reply:<instance-id>`; workers PUBLISH the JSON [`Reply`] there. While the
//! subscription is down, new sync callers are refused (503) and those already waiting are
//! released at once instead of running into their timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{PendingReplies, Reply, ReplyBus, ReplyError, ReplyWaiter};
use crate::redis_link::RedisLink;

/// Replies over Redis pub/sub.
pub struct RedisReplyBus {
    link: RedisLink,
    namespace: String,
    /// This instance's id, sent as `reply_to`.
    address: String,
    pending: PendingReplies,
    listening: Arc<AtomicBool>,
}

impl RedisReplyBus {
    /// Subscribes (in the background) to this instance's reply channel. A worker that only
    /// publishes replies passes `listen: false`.
    pub fn start(link: RedisLink, namespace: &str, listen: bool, shutdown: CancellationToken) -> Self {
        let address = Uuid::now_v7().simple().to_string();
        let pending = PendingReplies::default();
        let listening = Arc::new(AtomicBool::new(false));
        if listen {
            let state = listening.clone();
            let on_lost = pending.clone();
            let deliver_to = pending.clone();
            link.subscribe(
                reply_channel(namespace, &address),
                shutdown,
                move |live| {
                    state.store(live, Ordering::SeqCst);
                    if !live {
                        on_lost.release_all();
                    }
                },
                move |payload| match serde_json::from_slice::<Reply>(payload) {
                    Ok(reply) => {
                        deliver_to.deliver(reply);
                    }
                    Err(error) => tracing::warn!(%error, "ignoring an unreadable reply"),
                },
            );
        }
        Self { link, namespace: namespace.to_owned(), address, pending, listening }
    }

    /// Whether sync callers can be answered now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }
}

fn reply_channel(namespace: &str, address: &str) -> String {
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
        let payload = serde_json::to_vec(&reply).map_err(|e| ReplyError::Unavailable(e.to_string()))?;
        self.link
            .publish(&reply_channel(&self.namespace, reply_to), &payload)
            .await
            .map_err(ReplyError::Unavailable)
    }
}
