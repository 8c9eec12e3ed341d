//! The embedded reply bus: workers and the ingress share one process, so a reply is handed
//! straight to the waiting request, and who answers a caller is decided in a shared map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Answer, PendingReplies, Reply, ReplyBus, ReplyError, ReplyWaiter};

/// Decisions kept before expired ones are looked for: the map holds only executions whose
/// caller is still unanswered, or timed out with the worker not yet done.
const PRUNE_ABOVE: usize = 4096;

/// Who answers each caller, and until when the decision is kept.
type Decisions = HashMap<Uuid, (Answer, DateTime<Utc>)>;

/// In-process replies.
#[derive(Clone, Default)]
pub struct MemoryReplyBus {
    pending: PendingReplies,
    decisions: Arc<Mutex<Decisions>>,
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

    async fn decide(
        &self,
        execution_id: Uuid,
        answer: &Answer,
        keep_until: DateTime<Utc>,
    ) -> Result<bool, ReplyError> {
        let mut decisions = self.decisions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((decided, _)) = decisions.get(&execution_id) {
            let won = decided == answer;
            // A worker's decision stays for the ingress to read its reply; a timeout has been
            // seen by both sides now.
            if matches!(decided, Answer::Timeout) {
                decisions.remove(&execution_id);
            }
            return Ok(won);
        }
        if decisions.len() >= PRUNE_ABOVE {
            let now = Utc::now();
            decisions.retain(|_, (_, until)| *until > now);
        }
        decisions.insert(execution_id, (answer.clone(), keep_until));
        Ok(true)
    }

    async fn decision(&self, execution_id: Uuid) -> Result<Option<Answer>, ReplyError> {
        let decisions = self.decisions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(decisions.get(&execution_id).map(|(answer, _)| answer.clone()))
    }

    fn forget(&self, execution_id: Uuid) {
        self.decisions.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&execution_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_first_side_to_decide_answers() {
        let bus = MemoryReplyBus::new();
        let until = Utc::now() + chrono::Duration::seconds(60);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let reply =
            Answer::Reply(Reply { execution_id: a, status_code: 200, headers: vec![], body: json!("ok") });
        assert!(bus.decide(a, &reply, until).await.unwrap());
        assert!(!bus.decide(a, &Answer::Timeout, until).await.unwrap(), "the worker took it");
        assert_eq!(bus.decision(a).await.unwrap(), Some(reply.clone()));
        assert!(bus.decide(b, &Answer::Timeout, until).await.unwrap());
        assert!(!bus.decide(b, &reply, until).await.unwrap(), "the ingress took it");
        assert_eq!(bus.decision(Uuid::now_v7()).await.unwrap(), None);
        bus.forget(a);
        assert!(bus.decisions.lock().unwrap().is_empty());
        // Expired decisions of callers nobody came back for are dropped as new ones come.
        let past = Utc::now() - chrono::Duration::seconds(1);
        for _ in 0..PRUNE_ABOVE {
            bus.decide(Uuid::now_v7(), &Answer::Timeout, past).await.unwrap();
        }
        bus.decide(Uuid::now_v7(), &Answer::Timeout, until).await.unwrap();
        assert_eq!(bus.decisions.lock().unwrap().len(), 1);
    }

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
