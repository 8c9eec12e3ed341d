//! Writes finished executions off the hot path. Entries queue up while a write is in flight
//! and the next write takes them all (group commit), so throughput grows with load instead of
//! paying one transaction per execution. A delivery is acked only after its record is stored;
//! a failed write is retried with backoff, never dropped. Once the process is stopping, a
//! write that still fails is given up after [`GIVE_UP_AFTER_STOP`]: its deliveries are
//! returned to the queue (embedded: left in the journal) instead of holding the process.

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
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let task = tokio::spawn(write_loop(storage, receiver, journal, stopping));
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
) {
    // Fires GIVE_UP_AFTER_STOP after the stop began, whichever batch is being written then.
    let give_up = CancellationToken::new();
    tokio::spawn({
        let give_up = give_up.clone();
        async move {
            stopping.cancelled().await;
            tokio::time::sleep(GIVE_UP_AFTER_STOP).await;
            give_up.cancel();
        }
    });
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let settled: Vec<uuid::Uuid> = match journal {
            Journal::Settle => batch.iter().filter_map(|e| e.journaled).collect(),
            Journal::None => Vec::new(),
        };
        let (records, ackers): (Vec<_>, Vec<_>) = batch.drain(..).map(|e| (e.record, e.acker)).unzip();
        let records: Vec<ExecutionRecord> = records.into_iter().flatten().collect();
        let write = || async { storage.insert_executions(&records, &settled).await };
        let retried = retry(Policy::DURABLE_WRITE, "recording executions", write, |_| true);
        let stored_before = tokio::select! {
            stored = retried => stored.unwrap_or_default(),
            () = give_up.cancelled() => {
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
