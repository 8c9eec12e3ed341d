//! The worker side of a process, assembled: pool, recorder and pruner, started together and
//! stopped in order (stop receiving → finish executions → write their records and ack them →
//! close the consumer).

use hookflow_shared::config::Config;
use hookflow_shared::queue::QueueConsumer;
use hookflow_shared::storage::Storage;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::pool::WorkerInputs;
use crate::pool::WorkerPool;
pub use crate::recorder::Journal;
use crate::recorder::Recorder;

/// Workers built but not yet running.
pub struct Workers {
    pool: WorkerPool,
    recorder: JoinHandle<()>,
    storage: Storage,
    retention: std::time::Duration,
    /// When set, the pool starts only once it fires.
    gate: Option<oneshot::Receiver<()>>,
    /// Cancelled by [`RunningWorkers::stop`]; bounds the recorder's retries from then on.
    shutdown: CancellationToken,
}

/// Running workers; [`RunningWorkers::stop`] drains them.
pub struct RunningWorkers {
    /// Ends with the pool's consumer, closed only after the recorder has acked everything.
    pool: JoinHandle<Box<dyn QueueConsumer>>,
    recorder: JoinHandle<()>,
    pruner: JoinHandle<()>,
    shutdown: CancellationToken,
}

impl Workers {
    pub fn new(config: &Config, inputs: WorkerInputs, journal: Journal) -> Self {
        let storage = inputs.storage.clone();
        let shutdown = CancellationToken::new();
        let (recorder, recorder_task) =
            Recorder::spawn(storage.clone(), config.record_executions, journal, shutdown.clone());
        Self {
            pool: WorkerPool::new(inputs, recorder, config.worker_concurrency, shutdown.clone()),
            recorder: recorder_task,
            storage,
            retention: config.execution_retention,
            gate: None,
            shutdown,
        }
    }

    /// Keeps the pool from receiving until the returned sender fires (or is dropped).
    pub fn hold(&mut self) -> oneshot::Sender<()> {
        let (sender, receiver) = oneshot::channel();
        self.gate = Some(receiver);
        sender
    }

    pub fn spawn(self) -> RunningWorkers {
        let shutdown = self.shutdown;
        let token = shutdown.clone();
        let (pool, gate) = (self.pool, self.gate);
        let pool = tokio::spawn(async move {
            if let Some(gate) = gate {
                tokio::select! {
                    _ = gate => {}
                    _ = token.cancelled() => return pool.into_consumer(),
                }
            }
            pool.run(token).await
        });
        let pruner = tokio::spawn(crate::pruner::run(self.storage, self.retention, shutdown.clone()));
        RunningWorkers { pool, recorder: self.recorder, pruner, shutdown }
    }
}

impl RunningWorkers {
    /// Stops receiving, lets in-flight executions finish and their records be written and
    /// acked, then closes the consumer.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let consumer = self.pool.await;
        // The pool owned the last recorder handle; the recorder now drains and ends.
        let _ = self.recorder.await;
        if let Ok(consumer) = consumer {
            consumer.close().await;
        }
        self.pruner.abort();
    }
}
