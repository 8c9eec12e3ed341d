//! The embedded queue: two bounded tokio channels (sync and async) whose nack re-enqueues.
//! A full channel makes `publish` wait, which slows callers down instead of growing memory.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Acker, Delivery, QueueConsumer, QueueError, QueueProducer};
use crate::execution::ExecutionRequest;
use crate::model::Mode;

/// A message and how often it was delivered before.
type Item = (ExecutionRequest, u32);

/// Publishes into the in-memory queue; cheap to clone.
#[derive(Clone)]
pub struct MemoryProducer {
    sync: mpsc::Sender<Item>,
    asynchronous: mpsc::Sender<Item>,
}

/// Receives from the in-memory queue, sync work first.
pub struct MemoryConsumer {
    sync: mpsc::Receiver<Item>,
    asynchronous: mpsc::Receiver<Item>,
    /// Kept so a nack can put a message back even after every producer is gone.
    requeue: MemoryProducer,
}

/// A queue holding up to `capacity` messages per mode.
pub fn memory_queue(capacity: usize) -> (MemoryProducer, MemoryConsumer) {
    let (sync_tx, sync_rx) = mpsc::channel(capacity);
    let (async_tx, async_rx) = mpsc::channel(capacity);
    let producer = MemoryProducer { sync: sync_tx, asynchronous: async_tx };
    let consumer = MemoryConsumer { sync: sync_rx, asynchronous: async_rx, requeue: producer.clone() };
    (producer, consumer)
}

impl MemoryProducer {
    async fn send(&self, item: Item) -> Result<(), QueueError> {
        let channel = match item.0.mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        };
        channel.send(item).await.map_err(|_| QueueError::Closed)
    }
}

impl MemoryProducer {
    /// Queues a message that was delivered `delivered` times before (recovered after a restart).
    pub async fn redeliver(&self, request: ExecutionRequest, delivered: u32) -> Result<(), QueueError> {
        self.send((request, delivered)).await
    }
}

#[async_trait]
impl QueueProducer for MemoryProducer {
    async fn publish(&self, request: ExecutionRequest) -> Result<(), QueueError> {
        self.send((request, 0)).await
    }
}

#[async_trait]
impl QueueConsumer for MemoryConsumer {
    async fn receive(&mut self) -> Result<Delivery, QueueError> {
        let (request, delivered) = tokio::select! {
            biased;
            Some(item) = self.sync.recv() => item,
            Some(item) = self.asynchronous.recv() => item,
            else => return Err(QueueError::Closed),
        };
        let acker =
            MemoryAcker { item: Some((request.clone(), delivered + 1)), requeue: self.requeue.clone() };
        Ok(Delivery { request, attempt: delivered + 1, last_attempt: false, acker: Box::new(acker) })
    }
}

struct MemoryAcker {
    item: Option<Item>,
    requeue: MemoryProducer,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(self: Box<Self>) -> Result<(), QueueError> {
        Ok(())
    }

    async fn nack(mut self: Box<Self>) -> Result<(), QueueError> {
        match self.item.take() {
            Some(item) => self.requeue.send(item).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: Mode) -> ExecutionRequest {
        crate::execution::sample_request(mode)
    }

    #[tokio::test]
    async fn sync_work_goes_first() {
        let (producer, mut consumer) = memory_queue(16);
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
        let (producer, mut consumer) = memory_queue(16);
        let sent = request(Mode::Async);
        producer.publish(sent.clone()).await.unwrap();
        let delivery = consumer.receive().await.unwrap();
        delivery.acker.nack().await.unwrap();
        let again = consumer.receive().await.unwrap();
        assert_eq!(again.request, sent);
        assert_eq!(again.attempt, 2);
        again.acker.ack().await.unwrap();
    }
}
