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
use crate::execution::{ExecutionRecord, ExecutionRequest, QueueMessage};
use crate::model::{ExecutionStatus, Mode};
use crate::storage::Storage;

/// Restarts after which a journaled execution that never got recorded is given up on.
pub const RECOVERY_LIMIT: i32 = 3;

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
    /// so one that was recorded after all is recognised and not run twice. One that has been
    /// queued again [`RECOVERY_LIMIT`] times already (each time, the process stopped before
    /// recording it) is recorded `error` with reason `recovery_limit` instead of run again.
    pub async fn recover(&self, storage: &Storage) -> Result<usize, QueueError> {
        let unavailable = |e: crate::storage::StorageError| QueueError::Unavailable(e.to_string());
        let entries = storage.pending_entries().await.map_err(unavailable)?;
        let mut requests = Vec::with_capacity(entries.len());
        let (mut given_up, mut settled) = (Vec::new(), Vec::new());
        for entry in entries {
            let request = match serde_json::from_str::<QueueMessage>(&entry.message) {
                Ok(QueueMessage::ExecuteV1(request)) => request,
                Err(error) => {
                    tracing::warn!(%error, id = %entry.id, "skipping an unreadable journal entry");
                    continue;
                }
            };
            let delivered = u32::try_from(entry.recoveries).unwrap_or(0) + 1;
            if entry.recoveries >= RECOVERY_LIMIT {
                tracing::error!(execution = %entry.id, recoveries = entry.recoveries, "giving up on an execution that never finished");
                given_up.push(ExecutionRecord::not_run(
                    &request,
                    delivered,
                    ExecutionStatus::Error,
                    "recovery_limit",
                ));
                settled.push(entry.id);
            } else {
                requests.push((request, delivered));
            }
        }
        if !given_up.is_empty() {
            storage.insert_executions(&given_up, &settled).await.map_err(unavailable)?;
        }
        let ids: Vec<Uuid> = requests.iter().map(|(request, _)| request.execution_id).collect();
        storage.count_recovery(&ids).await.map_err(unavailable)?;
        let count = requests.len();
        let memory = self.memory.clone();
        // Fed in the background: the queue is bounded and the workers drain it.
        tokio::spawn(async move {
            for (request, delivered) in requests {
                if memory.redeliver(request, delivered).await.is_err() {
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
        if request.mode == Mode::Sync {
            return self.memory.publish(request).await;
        }
        // Room first: once the journal entry is written the execution must also be queued,
        // so nothing after the commit may wait or fail for lack of room.
        let room = self.memory.reserve(&request).await?;
        let message = QueueMessage::encode(&request).map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let (done, committed) = oneshot::channel();
        self.journal.send((request.execution_id, message, done)).await.map_err(|_| QueueError::Closed)?;
        match committed.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(QueueError::Unavailable(format!("journal: {error}"))),
            Err(_) => return Err(QueueError::Closed),
        }
        self.memory.send(request, 0, room)
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
        let (memory, mut consumer) = memory_queue(1 << 20, std::time::Duration::from_secs(5));
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
        let (memory, mut recovered) = memory_queue(1 << 20, std::time::Duration::from_secs(5));
        let again = JournaledProducer::start(memory, storage.clone());
        assert_eq!(again.recover(&storage).await.unwrap(), 50);
        let first = recovered.receive().await.unwrap();
        assert_eq!(first.attempt, 2);
        assert_eq!(first.request.mode, Mode::Async);
        let _ = consumer.receive().await.unwrap();
    }

    #[tokio::test]
    async fn an_execution_that_never_finishes_is_given_up_after_the_recovery_limit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("j.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        let (memory, _consumer) = memory_queue(1 << 20, std::time::Duration::from_secs(5));
        let producer = JournaledProducer::start(memory, storage.clone());
        let accepted = request(Mode::Async);
        producer.publish(accepted.clone()).await.unwrap();

        // Each start queues it again, as if every run took the process down before recording.
        for restart in 1..=RECOVERY_LIMIT {
            let (memory, mut consumer) = memory_queue(1 << 20, std::time::Duration::from_secs(5));
            let again = JournaledProducer::start(memory, storage.clone());
            assert_eq!(again.recover(&storage).await.unwrap(), 1);
            let delivery = consumer.receive().await.unwrap();
            assert_eq!(delivery.attempt, restart as u32 + 1);
        }
        let (memory, _consumer) = memory_queue(1 << 20, std::time::Duration::from_secs(5));
        let last = JournaledProducer::start(memory, storage.clone());
        assert_eq!(last.recover(&storage).await.unwrap(), 0, "not queued again");
        assert!(storage.pending().await.unwrap().is_empty());
        let record = storage.get_execution(accepted.execution_id).await.unwrap().expect("recorded");
        assert_eq!(record.status, ExecutionStatus::Error);
        assert_eq!(record.reason.as_deref(), Some("recovery_limit"));
    }
}
