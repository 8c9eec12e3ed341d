//! How a sync answer travels from the worker that ran the workflow back to the ingress that
//! holds the caller's connection. Waiters are registered by execution id; the worker publishes
//! to the waiter's instance address (`reply_to`). Between processes a reply travels sealed
//! ([`sealed`]): authenticated, and checked before a caller is sent it.

mod memory;
mod pending;
mod redis;
pub mod sealed;

pub use memory::MemoryReplyBus;
pub use pending::{PendingReplies, ReplyWaiter};
pub use redis::{reply_channel, RedisReplyBus};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::model::Header;

/// What the caller of a sync webhook receives (SPEC §9 `{executionId, statusCode, headers, body}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub execution_id: Uuid,
    pub status_code: u16,
    #[serde(default)]
    pub headers: Vec<Header>,
    /// A string is sent as text/plain, anything else as JSON, unless a Content-Type is given.
    pub body: Value,
}

/// Who answers a sync caller: the worker, with the run's reply, or the ingress, with 408 once
/// the caller's time is up. Decided once per execution ([`ReplyBus::decide`]), so the caller's
/// answer and the execution's record always agree (408 ⇔ `aborted`). The worker's decision
/// carries its reply, so an ingress that lost the decision can read the reply even when its
/// message got lost on the way ([`ReplyBus::decision`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Reply(Reply),
    Timeout,
}

/// Why a reply could not be sent or waited for.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("reply bus unavailable: {0}")]
    Unavailable(String),
}

/// The reply channel between workers and ingress instances.
#[async_trait]
pub trait ReplyBus: Send + Sync + 'static {
    /// This instance's address, carried as `reply_to` in the executions it queues.
    fn address(&self) -> &str;
    /// Starts waiting for the reply to `execution_id`; dropping the waiter stops waiting.
    fn register(&self, execution_id: Uuid) -> Result<ReplyWaiter, ReplyError>;
    /// Sends a reply to the instance at `reply_to`. A reply nobody waits for any more is dropped.
    async fn publish(&self, reply_to: &str, reply: Reply) -> Result<(), ReplyError>;
    /// Takes the right to answer `execution_id`'s caller with `answer`: `Ok(true)` once, to
    /// the first side that asks; `Ok(false)` when the other side decided first. The decision
    /// is kept at least until `keep_until` (past the caller's deadline).
    async fn decide(
        &self,
        execution_id: Uuid,
        answer: &Answer,
        keep_until: DateTime<Utc>,
    ) -> Result<bool, ReplyError>;
    /// What was decided for `execution_id`'s caller, if anything: a timeout, or the reply the
    /// worker decided to send.
    async fn decision(&self, execution_id: Uuid) -> Result<Option<Answer>, ReplyError>;
    /// The caller of `execution_id` has its answer: its decision may be dropped.
    fn forget(&self, execution_id: Uuid);
}
