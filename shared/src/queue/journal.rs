//! Embedded mode's durability for async webhooks. The in-memory queue dies with the process,
//! so before an async caller is answered 2xx its execution is journaled in the database;
//! the recorder removes the entry in the same transaction that records the execution, and a
//! restart puts whatever is still journaled back on the queue. Entries are written in groups
//! (whatever arrived while the previous write ran), each caller awaiting its own group's
//! commit — the same shape as the broker's publisher confirms in distributed mode.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{MemoryProducer, QueueError, QueueProducer};
use crate::execution::{ExecutionRequest, QueueMessage};
use crate::model::Mode;
use crate::storage::Storage;

/// Entries written in one transaction at most.
const MAX_GROUP: usize = 256;

type Entry = (Uuid, String, oneshot::Sender<Result<(), String>>);

/// A memory queue whose async messages are journaled before `publish` returns.
#[derive(Clone)]
pub struct JournaledProducer {
    memory: MemoryProducer,
    journal: mpsc::Sender<Entry>,
}

impl JournaledProducer {
    /// Starts the journal writer.
    pub fn start(memory: MemoryProducer, storage: Storage) -> Self {
        let (journal, receiver) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(write_groups(storage, receiver));
        Self { memory, journal }
    }

    /// Queues again every journaled execution (after a restart). They count as redeliveries,
    /// so one that was recorded after all is recognised and not run twice.
    pub async fn recover(&self, storage: &Storage) -> Result<usize, QueueError> {
        let messages = storage.pending().await.map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let mut requests = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_str::<QueueMessage>(&message) {
                Ok(QueueMessage::ExecuteV1(request)) => requests.push(request),
                Err(error) => tracing::warn!(%error, "skipping an unreadable journal entry"),
            }
        }
        let count = requests.len();
        let memory = self.memory.clone();
        // Fed in the background: the queue is bounded and the workers drain it.
        tokio::spawn(async move {
            for request in requests {
                if memory.redeliver(request).await.is_err() {
                    return;
                }
            }
        });
        Ok(count)
    }
}

#[async_trait]
impl QueueProducer for JournaledProducer {
    async fn publish(&self, request: ExecutionRequest) -> Result<(), QueueError> {
        if request.mode == Mode::Async {
            let message =
                QueueMessage::encode(&request).map_err(|e| QueueError::Unavailable(e.to_string()))?;
            let (done, committed) = oneshot::channel();
            self.journal.send((request.execution_id, message, done)).await.map_err(|_| QueueError::Closed)?;
            match committed.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(QueueError::Unavailable(format!("journal: {error}"))),
                Err(_) => return Err(QueueError::Closed),
            }
        }
        self.memory.publish(request).await
    }
}

async fn write_groups(storage: Storage, mut receiver: mpsc::Receiver<Entry>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        let entries: Vec<(Uuid, String)> =
            group.iter().map(|(id, message, _)| (*id, message.clone())).collect();
        let result = storage.append_pending(&entries).await.map_err(|e| e.to_string());
        for (_, _, done) in group.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{memory_queue, QueueConsumer};

    fn request(mode: Mode) -> ExecutionRequest {
        crate::execution::sample_request(mode)
    }

    #[tokio::test]
    async fn async_messages_are_journaled_before_they_are_queued_and_recovered_after() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("j.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        let (memory, mut consumer) = memory_queue(64);
        let producer = JournaledProducer::start(memory, storage.clone());
        let publishes: Vec<_> = (0..50).map(|_| request(Mode::Async)).collect();
        let sync = request(Mode::Sync);
        let handles: Vec<_> = publishes
            .iter()
            .cloned()
            .map(|r| {
                let producer = producer.clone();
                tokio::spawn(async move { producer.publish(r).await })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap().unwrap();
        }
        producer.publish(sync).await.unwrap();
        assert_eq!(
            storage.pending().await.unwrap().len(),
            50,
            "sync callers wait for their answer; only async is journaled"
        );

        // A new process on the same database finds them again, as redeliveries.
        let (memory, mut recovered) = memory_queue(64);
        let again = JournaledProducer::start(memory, storage.clone());
        assert_eq!(again.recover(&storage).await.unwrap(), 50);
        let first = recovered.receive().await.unwrap();
        assert_eq!(first.attempt, 2);
        assert_eq!(first.request.mode, Mode::Async);
        let _ = consumer.receive().await.unwrap();
    }
}
