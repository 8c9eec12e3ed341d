//! The embedded queue: two tokio channels (sync and async) whose nack re-enqueues, bounded by
//! the estimated memory of what they hold rather than by a count: one large execution weighs
//! as much as thousands of small ones. A message holds its share of the budget until it is
//! settled (acked or nacked), so executions being run count too. Publishing waits for room up
//! to a limit (a sync request: its own deadline), then fails with [`QueueError::Full`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::mpsc;

use super::{Acker, Delivery, QueueConsumer, QueueError, QueueProducer};
use crate::budget::{ByteBudget, Share};
use crate::execution::ExecutionRequest;
use crate::model::Mode;
use crate::template::approx_size;

/// A message, how often it was delivered before, and its share of the memory budget.
type Item = (ExecutionRequest, u32, Share);

/// Publishes into the in-memory queue; cheap to clone.
#[derive(Clone)]
pub struct MemoryProducer {
    sync: mpsc::UnboundedSender<Item>,
    asynchronous: mpsc::UnboundedSender<Item>,
    budget: ByteBudget,
    /// Longest wait for room when the request has no deadline of its own.
    max_wait: Duration,
}

/// Receives from the in-memory queue, sync work first.
pub struct MemoryConsumer {
    sync: mpsc::UnboundedReceiver<Item>,
    asynchronous: mpsc::UnboundedReceiver<Item>,
    /// Kept so a nack can put a message back even after every producer is gone.
    requeue: MemoryProducer,
}

/// A queue holding executions of up to `bytes` (estimated) at once; a publisher waits at most
/// `max_wait` for room.
pub fn memory_queue(bytes: usize, max_wait: Duration) -> (MemoryProducer, MemoryConsumer) {
    let (sync_tx, sync_rx) = mpsc::unbounded_channel();
    let (async_tx, async_rx) = mpsc::unbounded_channel();
    let producer =
        MemoryProducer { sync: sync_tx, asynchronous: async_tx, budget: ByteBudget::new(bytes), max_wait };
    let consumer = MemoryConsumer { sync: sync_rx, asynchronous: async_rx, requeue: producer.clone() };
    (producer, consumer)
}

/// What an execution is counted as in the budget.
fn size_of(request: &ExecutionRequest) -> usize {
    approx_size(&request.context, usize::MAX) + std::mem::size_of::<ExecutionRequest>()
}

/// Room in the queue for one execution, taken before it is journaled or queued.
pub struct Room(Share);

impl MemoryProducer {
    /// Waits for room for `request`, up to its deadline (sync) or the producer's limit.
    pub async fn reserve(&self, request: &ExecutionRequest) -> Result<Room, QueueError> {
        let wait = match request.deadline {
            Some(deadline) => (deadline - Utc::now()).to_std().unwrap_or_default().min(self.max_wait),
            None => self.max_wait,
        };
        let share = self.budget.take(size_of(request));
        tokio::time::timeout(wait, share).await.map(Room).map_err(|_| QueueError::Full)
    }

    /// Queues a message into room reserved for it.
    pub fn send(&self, request: ExecutionRequest, delivered: u32, room: Room) -> Result<(), QueueError> {
        let channel = match request.mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        };
        channel.send((request, delivered, room.0)).map_err(|_| QueueError::Closed)
    }

    /// Queues a message that was delivered `delivered` times before (recovered after a
    /// restart), waiting for room as long as it takes.
    pub async fn redeliver(&self, request: ExecutionRequest, delivered: u32) -> Result<(), QueueError> {
        let room = Room(self.budget.take(size_of(&request)).await);
        self.send(request, delivered, room)
    }
}

#[async_trait]
impl QueueProducer for MemoryProducer {
    async fn publish(&self, request: ExecutionRequest) -> Result<(), QueueError> {
        let room = self.reserve(&request).await?;
        self.send(request, 0, room)
    }
}

#[async_trait]
impl QueueConsumer for MemoryConsumer {
    async fn receive(&mut self) -> Result<Delivery, QueueError> {
        let (request, delivered, room) = tokio::select! {
            biased;
            Some(item) = self.sync.recv() => item,
            Some(item) = self.asynchronous.recv() => item,
            else => return Err(QueueError::Closed),
        };
        let acker = MemoryAcker { delivered: delivered + 1, room: Room(room), requeue: self.requeue.clone() };
        Ok(Delivery { request, attempt: delivered + 1, last_attempt: false, acker: Box::new(acker) })
    }

    /// Nothing to hand back: queued messages live in the process (and the journal).
    async fn close(self: Box<Self>) {}
}

/// Settles an in-memory delivery; its room in the queue is given back when it is dropped.
struct MemoryAcker {
    delivered: u32,
    room: Room,
    requeue: MemoryProducer,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        Ok(())
    }

    /// Without the request there is nothing to queue again; only shutdown gets here, and an
    /// async execution is still journaled for the next start.
    async fn nack(self: Box<Self>) -> Result<(), QueueError> {
        Ok(())
    }

    async fn nack_with(self: Box<Self>, request: ExecutionRequest) -> Result<(), QueueError> {
        let Self { delivered, room, requeue } = *self;
        requeue.send(request, delivered, room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: Mode) -> ExecutionRequest {
        crate::execution::sample_request(mode)
    }

    fn queue() -> (MemoryProducer, MemoryConsumer) {
        memory_queue(1 << 20, Duration::from_secs(1))
    }

    #[tokio::test]
    async fn sync_work_goes_first() {
        let (producer, mut consumer) = queue();
        producer.publish(request(Mode::Async)).await.unwrap();
        producer.publish(request(Mode::Async)).await.unwrap();
        let sync = request(Mode::Sync);
        producer.publish(sync.clone()).await.unwrap();
        let first = consumer.receive().await.unwrap();
        assert_eq!(first.request.execution_id, sync.execution_id);
        assert_eq!(first.attempt, 1);
    }

    #[tokio::test]
    async fn nack_redelivers_with_a_higher_attempt() {
        let (producer, mut consumer) = queue();
        let sent = request(Mode::Async);
        producer.publish(sent.clone()).await.unwrap();
        let delivery = consumer.receive().await.unwrap();
        delivery.acker.nack_with(delivery.request).await.unwrap();
        let again = consumer.receive().await.unwrap();
        assert_eq!(again.request, sent);
        assert_eq!(again.attempt, 2);
        again.acker.ack().await.unwrap();
    }

    #[tokio::test]
    async fn the_queue_is_bounded_by_memory_until_deliveries_are_settled() {
        let (producer, mut consumer) = memory_queue(64 * 1024, Duration::from_millis(100));
        let mut big = request(Mode::Async);
        big.context = serde_json::json!({"body": "x".repeat(40 * 1024)});
        producer.publish(big.clone()).await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(producer.publish(big.clone()).await, Err(QueueError::Full)));
        assert!(started.elapsed() >= Duration::from_millis(100));
        // Received but not settled: it still holds its room.
        let delivery = consumer.receive().await.unwrap();
        assert!(matches!(producer.publish(big.clone()).await, Err(QueueError::Full)));
        delivery.acker.ack().await.unwrap();
        producer.publish(big).await.unwrap();
    }

    #[tokio::test]
    async fn a_sync_request_waits_no_longer_than_its_deadline() {
        let (producer, _consumer) = memory_queue(64 * 1024, Duration::from_secs(30));
        let mut big = request(Mode::Sync);
        big.context = serde_json::json!({"body": "x".repeat(40 * 1024)});
        producer.publish(big.clone()).await.unwrap();
        big.deadline = Some(Utc::now() + chrono::Duration::milliseconds(100));
        let started = std::time::Instant::now();
        assert!(matches!(producer.publish(big).await, Err(QueueError::Full)));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
