//! Writes finished executions off the hot path. Entries queue up while a write is in flight
//! and the next write takes them all (group commit), so throughput grows with load instead of
//! paying one transaction per execution. A delivery is acked only after its record is stored;
//! a failed write is retried with backoff, never dropped. Once the process is stopping, a
//! write that keeps failing is given up [`GIVE_UP_AFTER_STOP`] into the stop: its deliveries
//! are returned to the queue (embedded: left in the journal) instead of holding the process.
//! A write that succeeds is never given up, however late in the stop it comes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookflow_shared::config::RecordExecutions;
use hookflow_shared::execution::ExecutionRecord;
use hookflow_shared::model::{ExecutionStatus, Mode};
use hookflow_shared::queue::Acker;
use hookflow_shared::retry::{retry, Policy};
use hookflow_shared::storage::Storage;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Most records written in one transaction.
const MAX_BATCH: usize = 128;
/// Entries waiting for a write before `submit` waits (backpressure on the worker pool). Small
/// on purpose: each entry holds a whole execution, and a longer queue only adds memory, not
/// throughput, once the database is the slower side.
const CAPACITY: usize = 256;
/// How long a failing write is still retried once the process is stopping.
const GIVE_UP_AFTER_STOP: Duration = Duration::from_secs(10);
/// Longest one write may take before it counts as failed (a database that stopped answering
/// mid-query): the batch is then tried again.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

struct Entry {
    /// Set for async executions, the only ones embedded mode journals.
    journaled: Option<uuid::Uuid>,
    /// `None` when the recording policy leaves this execution out.
    record: Option<ExecutionRecord>,
    acker: Box<dyn Acker>,
}

/// Hands finished executions to the writer task. Dropping every clone lets the task finish
/// the entries it has and stop.
#[derive(Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Entry>,
    policy: RecordExecutions,
}

/// Whether the recorder also settles journal entries (embedded mode's durable async queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    Settle,
    None,
}

impl Recorder {
    /// Starts the writer task; `stopping` bounds its retries once cancelled.
    pub fn spawn(
        storage: Storage,
        policy: RecordExecutions,
        journal: Journal,
        stopping: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        Self::spawn_giving_up(storage, policy, journal, stopping, GIVE_UP_AFTER_STOP)
    }

    fn spawn_giving_up(
        storage: Storage,
        policy: RecordExecutions,
        journal: Journal,
        stopping: CancellationToken,
        give_up_after: Duration,
    ) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let task = tokio::spawn(write_loop(storage, receiver, journal, stopping, give_up_after));
        (Self { sender, policy }, task)
    }

    /// Queues a record; the delivery is acked once it is stored (or at once when the policy
    /// does not keep it).
    pub async fn submit(&self, record: ExecutionRecord, acker: Box<dyn Acker>) {
        let keep = match self.policy {
            RecordExecutions::All => true,
            RecordExecutions::Failed => record.status != ExecutionStatus::Resolved,
            RecordExecutions::None => false,
        };
        let journaled = (record.mode == Mode::Async).then_some(record.id);
        let entry = Entry { journaled, record: keep.then_some(record), acker };
        if let Err(mpsc::error::SendError(entry)) = self.sender.send(entry).await {
            // The writer is gone (shutdown): leave the message unsettled for redelivery.
            tracing::warn!("recorder stopped; execution left for redelivery");
            let _ = entry.acker.nack().await;
        }
    }
}

async fn write_loop(
    storage: Storage,
    mut receiver: mpsc::Receiver<Entry>,
    journal: Journal,
    stopping: CancellationToken,
    give_up_after: Duration,
) {
    // Fires `give_up_after` into the stop, whichever batch is being written then.
    let give_up = CancellationToken::new();
    tokio::spawn({
        let give_up = give_up.clone();
        async move {
            stopping.cancelled().await;
            tokio::time::sleep(give_up_after).await;
            give_up.cancel();
        }
    });
    // Whether the last write attempt failed, across batches: once the stop has given up on a
    // failing database, the batches after it are returned at once instead of each waiting for
    // an attempt of its own to fail.
    let failing = AtomicBool::new(false);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let settled: Vec<uuid::Uuid> = match journal {
            Journal::Settle => batch.iter().filter_map(|e| e.journaled).collect(),
            Journal::None => Vec::new(),
        };
        let (records, ackers): (Vec<_>, Vec<_>) = batch.drain(..).map(|e| (e.record, e.acker)).unzip();
        let records: Vec<ExecutionRecord> = records.into_iter().flatten().collect();
        let write = || async {
            match tokio::time::timeout(WRITE_TIMEOUT, storage.insert_executions(&records, &settled)).await {
                Ok(written) => written.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {WRITE_TIMEOUT:?}")),
            }
        };
        let retried = retry(Policy::DURABLE_WRITE, "recording executions", write, |_| {
            failing.store(true, Ordering::SeqCst);
            true
        });
        // Only a write that has failed is given up: one in flight and healthy finishes.
        let failed_too_long = async {
            give_up.cancelled().await;
            while !failing.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let stored_before = tokio::select! {
            stored = retried => {
                failing.store(false, Ordering::SeqCst);
                stored.unwrap_or_default()
            }
            () = failed_too_long => {
                // A transaction cut short here is rolled back; one that had committed is
                // recognised on redelivery, which settles it without running it again.
                tracing::warn!(records = records.len(), "stopping with executions not recorded; returning them to the queue");
                for acker in ackers {
                    let _ = acker.nack().await;
                }
                continue;
            }
        };
        for id in stored_before {
            // Redeliveries of recorded executions are settled without running (see the pool),
            // so a record that is already there means this execution ran twice.
            tracing::warn!(execution = %id, "execution ran more than once; the first record is kept");
        }
        for acker in ackers {
            if let Err(error) = acker.ack().await {
                tracing::warn!(%error, "ack failed; the execution may be delivered again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use hookflow_shared::execution::ExecutionRequest;
    use hookflow_shared::queue::QueueError;
    use std::sync::{Arc, Mutex};

    /// Records how each delivery was settled.
    struct Settles(Arc<Mutex<Vec<&'static str>>>);

    #[async_trait]
    impl Acker for Settles {
        async fn ack(self: Box<Self>) -> Result<(), QueueError> {
            self.0.lock().unwrap().push("ack");
            Ok(())
        }
        async fn nack(self: Box<Self>) -> Result<(), QueueError> {
            self.0.lock().unwrap().push("nack");
            Ok(())
        }
    }

    fn record() -> ExecutionRecord {
        let request = ExecutionRequest {
            execution_id: uuid::Uuid::now_v7(),
            workflow_key: "w".into(),
            version: 1,
            mode: Mode::Async,
            context: serde_json::json!({}),
            reply_to: None,
            deadline: None,
            created_at: chrono::Utc::now(),
            idempotency_key: None,
            replay_of: None,
            trace: None,
        };
        ExecutionRecord::not_run(&request, 1, ExecutionStatus::Resolved, "test")
    }

    #[tokio::test]
    async fn a_healthy_write_late_in_a_stop_is_stored_not_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        let storage = Storage::connect(&url).await.unwrap();
        let stopping = CancellationToken::new();
        let give_up_after = Duration::from_millis(50);
        let (recorder, task) = Recorder::spawn_giving_up(
            storage.clone(),
            RecordExecutions::All,
            Journal::None,
            stopping.clone(),
            give_up_after,
        );
        stopping.cancel();
        // Past the give-up time of the stop: nothing has failed, so nothing is given up.
        tokio::time::sleep(give_up_after * 4).await;
        let settles = Arc::new(Mutex::new(Vec::new()));
        let late = record();
        let id = late.id;
        recorder.submit(late, Box::new(Settles(settles.clone()))).await;
        drop(recorder);
        task.await.unwrap();
        assert_eq!(*settles.lock().unwrap(), vec!["ack"]);
        assert!(storage.get_execution(id).await.unwrap().is_some(), "the record was written");
    }
}
