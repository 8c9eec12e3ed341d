//! The correlation map from execution id to the request waiting for its reply. Shared by every
//! reply backend: they differ only in how a reply reaches [`PendingReplies::deliver`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::Reply;

/// Waiting requests of this instance.
#[derive(Clone, Default)]
pub struct PendingReplies {
    waiters: Arc<Mutex<HashMap<Uuid, oneshot::Sender<Reply>>>>,
}

impl PendingReplies {
    /// Registers a waiter; it unregisters itself when dropped (answered, timed out or the
    /// caller went away).
    pub fn register(&self, execution_id: Uuid) -> ReplyWaiter {
        let (sender, receiver) = oneshot::channel();
        self.lock().insert(execution_id, sender);
        ReplyWaiter { execution_id, receiver, pending: self.clone() }
    }

    /// Hands a reply to its waiter; `false` when nobody waits for it.
    pub fn deliver(&self, reply: Reply) -> bool {
        let waiter = self.lock().remove(&reply.execution_id);
        waiter.is_some_and(|sender| sender.send(reply).is_ok())
    }

    /// Lets every waiter go with no reply (the bus was lost; they answer 503 at once).
    pub fn release_all(&self) {
        self.lock().clear();
    }

    /// Requests currently waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, oneshot::Sender<Reply>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A request waiting for its reply.
pub struct ReplyWaiter {
    execution_id: Uuid,
    receiver: oneshot::Receiver<Reply>,
    pending: PendingReplies,
}

impl ReplyWaiter {
    /// The reply, or `None` if the bus went away without answering.
    pub async fn wait(&mut self) -> Option<Reply> {
        (&mut self.receiver).await.ok()
    }
}

impl Drop for ReplyWaiter {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.execution_id);
    }
}
