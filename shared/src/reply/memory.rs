//! The embedded reply bus: workers and the ingress share one process, so a reply is handed
//! straight to the waiting request.

use async_trait::async_trait;
use uuid::Uuid;

use super::{PendingReplies, Reply, ReplyBus, ReplyError, ReplyWaiter};

/// In-process replies.
#[derive(Clone, Default)]
pub struct MemoryReplyBus {
    pending: PendingReplies,
}

impl MemoryReplyBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// The waiting requests, for the `hookflow_sync_inflight` gauge.
    pub fn pending(&self) -> &PendingReplies {
        &self.pending
    }
}

#[async_trait]
impl ReplyBus for MemoryReplyBus {
    fn address(&self) -> &str {
        "local"
    }

    fn register(&self, execution_id: Uuid) -> Result<ReplyWaiter, ReplyError> {
        Ok(self.pending.register(execution_id))
    }

    async fn publish(&self, _reply_to: &str, reply: Reply) -> Result<(), ReplyError> {
        self.pending.deliver(reply);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn reply_reaches_its_waiter_and_late_replies_are_dropped() {
        let bus = MemoryReplyBus::new();
        let id = Uuid::now_v7();
        let mut waiter = bus.register(id).unwrap();
        assert_eq!(bus.pending().len(), 1);
        let reply = Reply { execution_id: id, status_code: 201, headers: vec![], body: json!({"ok": true}) };
        bus.publish("local", reply.clone()).await.unwrap();
        assert_eq!(waiter.wait().await, Some(reply));
        drop(waiter);
        assert!(bus.pending().is_empty());

        let gone = Uuid::now_v7();
        drop(bus.register(gone).unwrap());
        assert!(bus.pending().is_empty(), "a dropped waiter unregisters");
        let late = Reply { execution_id: gone, status_code: 200, headers: vec![], body: json!(null) };
        bus.publish("local", late).await.unwrap();
    }
}
