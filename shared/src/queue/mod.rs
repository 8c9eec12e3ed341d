//! How executions reach workers: a producer the ingress publishes to, a consumer a worker
//! pool receives from, and a delivery that is acked once its execution is recorded (or
//! nacked to be delivered again). The engine never knows which backend it runs on.

mod amqp;
mod journal;
mod memory;

pub use amqp::{watch_queue_depths, AmqpConsumer, AmqpProducer, QueueNames, DELIVERY_LIMIT, MAC_HEADER};
pub use journal::{JournaledProducer, RECOVERY_LIMIT};
pub use memory::{memory_queue, MemoryConsumer, MemoryProducer, Room};

use async_trait::async_trait;

use crate::execution::ExecutionRequest;

/// Why the queue could not take or give a message.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The message may have been queued: it was sent, and the broker's confirm was lost with
    /// the connection. Whoever published must not assume either way.
    #[error("queue confirm lost: {0}")]
    Uncertain(String),
    #[error("queue closed")]
    Closed,
    /// No room freed up in time (embedded mode's bounded in-memory queue).
    #[error("queue full")]
    Full,
    /// A message that is not a valid envelope: returned to the queue and, once past the
    /// delivery limit, dead-lettered; or not authenticated (no valid MAC): dead-lettered at
    /// once. `dead_lettered` says whether it went to the dead letters now.
    #[error("unreadable message: {reason}")]
    Poison { reason: String, dead_lettered: bool },
}

/// Publishes executions. `publish` returns only once the message is accepted by the queue
/// (for a broker: confirmed), so a 2xx after it is honest.
#[async_trait]
pub trait QueueProducer: Send + Sync + 'static {
    async fn publish(&self, request: ExecutionRequest) -> Result<(), QueueError>;
}

/// Receives executions; sync work is handed out before async work.
#[async_trait]
pub trait QueueConsumer: Send + 'static {
    /// The next delivery; `Err(Closed)` once the queue is shut and drained.
    async fn receive(&mut self) -> Result<Delivery, QueueError>;

    /// Ends the consumer once every delivery it gave out is settled. A broker connection is
    /// closed gracefully here, after the acks: closing it earlier would hand executions that
    /// ran but are not yet recorded to another worker, which would run them again.
    async fn close(self: Box<Self>);
}

/// Settles one delivery.
#[async_trait]
pub trait Acker: Send + Sync + 'static {
    /// The execution is recorded: forget the message.
    async fn ack(self: Box<Self>) -> Result<(), QueueError>;
    /// The execution could not be handled: deliver it again.
    async fn nack(self: Box<Self>) -> Result<(), QueueError>;
    /// [`Acker::nack`], handing the request back for backends that hold messages in memory
    /// and so need it to deliver it again.
    async fn nack_with(self: Box<Self>, request: ExecutionRequest) -> Result<(), QueueError> {
        drop(request);
        self.nack().await
    }
}

/// One received execution and the means to settle it.
pub struct Delivery {
    pub request: ExecutionRequest,
    /// 1 on first delivery, counting up on redeliveries.
    pub attempt: u32,
    /// A nack of this delivery sends it to the dead-letter queue instead of back.
    pub last_attempt: bool,
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("execution_id", &self.request.execution_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}
