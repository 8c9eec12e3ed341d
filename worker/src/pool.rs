//! The worker pool: receives deliveries, runs up to `concurrency` executions at once, answers
//! sync callers, hands records to the [`Recorder`]. On shutdown it stops receiving, lets
//! in-flight executions finish and returns its consumer, still open, for the caller to close
//! once the records are written and acked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hookflow_shared::catalog::Catalog;
use hookflow_shared::execution::{ExecutionRecord, ExecutionRequest};
use hookflow_shared::idempotency::key_hash;
use hookflow_shared::model::{ExecutionStatus, Mode};
use hookflow_shared::queue::{Delivery, QueueConsumer, QueueError};
use hookflow_shared::reply::{Answer, Reply, ReplyBus};
use hookflow_shared::retry::{pause, Backoff, Policy};
use hookflow_shared::storage::Storage;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::{run_execution, Outcome};
use crate::metrics::WorkerMetrics;
use crate::recorder::Recorder;

/// How long a stopping pool waits for its executions (a worker's grace period is 45 s, and the
/// recorder needs the rest).
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// What every execution task shares.
struct Shared {
    catalog: Arc<Catalog>,
    storage: Storage,
    replies: Arc<dyn ReplyBus>,
    recorder: Recorder,
    metrics: WorkerMetrics,
    /// Cancelled when the worker stops: executions held for a dependency are returned then.
    stopping: CancellationToken,
}

/// What a pool works with; the queue, replies and catalog differ by mode, the rest does not.
pub struct WorkerInputs {
    pub consumer: Box<dyn QueueConsumer>,
    pub catalog: Arc<Catalog>,
    /// Read only on redelivery, to recognise executions that were already recorded.
    pub storage: Storage,
    pub replies: Arc<dyn ReplyBus>,
    pub metrics: WorkerMetrics,
}

/// A pool of executions fed by one consumer.
pub struct WorkerPool {
    consumer: Box<dyn QueueConsumer>,
    shared: Arc<Shared>,
    concurrency: usize,
}

impl WorkerPool {
    /// `stopping` is the token [`WorkerPool::run`] will be stopped with.
    pub fn new(
        inputs: WorkerInputs,
        recorder: Recorder,
        concurrency: usize,
        stopping: CancellationToken,
    ) -> Self {
        let WorkerInputs { consumer, catalog, storage, replies, metrics } = inputs;
        Self {
            consumer,
            shared: Arc::new(Shared { catalog, storage, replies, recorder, metrics, stopping }),
            concurrency,
        }
    }

    /// The consumer, for a pool that is never started (shutdown came first).
    pub fn into_consumer(self) -> Box<dyn QueueConsumer> {
        self.consumer
    }

    /// Runs until `shutdown`, then waits (up to [`DRAIN_LIMIT`]) for in-flight executions and
    /// hands the consumer back: it is closed only once the recorder has acked their deliveries.
    /// Executions still running at the limit are dropped unsettled, so they go back to the
    /// queue (embedded: stay in the journal) and run again elsewhere.
    pub async fn run(mut self, shutdown: CancellationToken) -> Box<dyn QueueConsumer> {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut running = JoinSet::new();
        loop {
            // Finished tasks are let go as the pool goes, so the set holds the running ones.
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => break,
                delivery = self.consumer.receive() => delivery,
            };
            match delivery {
                Ok(delivery) => {
                    let shared = self.shared.clone();
                    // Every line logged while the execution is handled carries who it is.
                    let span = tracing::info_span!(
                        "execution",
                        execution_id = %delivery.request.execution_id,
                        workflow = %delivery.request.workflow_key,
                        attempt = delivery.attempt,
                    );
                    if let Some(carried) = &delivery.request.trace {
                        hookflow_shared::telemetry::continue_trace(&span, carried);
                    }
                    running.spawn(
                        async move {
                            handle(&shared, delivery).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
                Err(QueueError::Closed) => break,
                Err(QueueError::Poison { reason, dead_lettered }) => {
                    tracing::warn!(%reason, dead_lettered, "unreadable message returned to the queue");
                    if dead_lettered {
                        self.shared.metrics.dead_lettered();
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "receiving from the queue failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        // Every slot back means every execution has handed its record to the recorder.
        let all_back = slots.acquire_many(self.concurrency as u32);
        if tokio::time::timeout(DRAIN_LIMIT, all_back).await.is_err() {
            tracing::warn!(
                running = running.len(),
                "executions still running {DRAIN_LIMIT:?} into the stop; returned to the queue"
            );
            running.shutdown().await;
        }
        self.consumer
    }
}

async fn handle(shared: &Shared, delivery: Delivery) {
    let Delivery { request, attempt, last_attempt, acker } = delivery;
    let started = Instant::now();
    if attempt > 1 {
        // At-least-once delivery, effectively-once execution: a message redelivered after its
        // execution was recorded (the ack was lost) is settled without running it again.
        let exists = || shared.storage.execution_exists(request.execution_id);
        match until_available(shared, "reading whether it was recorded", exists).await {
            Some(true) => {
                tracing::info!(attempt, "already recorded; not run again");
                let _ = acker.ack().await;
                return;
            }
            Some(false) => {}
            None => return return_to_queue(shared, acker, request, last_attempt).await,
        }
    }
    if let Some(key) = &request.idempotency_key {
        // A key taken over by a retry (this call's ingress never answered) belongs to that
        // retry's execution: this one must not run as well. Marked before the first node, so
        // a key is never taken over from a run that started.
        let hash = key_hash(&request.workflow_key, key);
        let mark = || shared.storage.mark_key_started(&hash, request.execution_id);
        match until_available(shared, "marking its idempotency key started", mark).await {
            Some(true) => {}
            None => return return_to_queue(shared, acker, request, last_attempt).await,
            Some(false) => {
                tracing::info!(execution = %request.execution_id, "idempotency key taken over by a retry; not run");
                let record =
                    ExecutionRecord::not_run(&request, attempt, ExecutionStatus::Aborted, "superseded");
                shared.recorder.submit(record, acker).await;
                return;
            }
        }
    }
    if request.mode == Mode::Sync && request.reply_to.is_some() {
        // The caller may already have its answer: a 408 or 503 the ingress decided (a publish
        // it could not confirm, a deadline passed in the queue), or the reply of an earlier
        // delivery whose worker stopped before recording it. Then nothing runs again: the
        // record says what the caller got.
        // Unknown, running could act for a caller already answered 408: held until known.
        let decision = || shared.replies.decision(request.execution_id);
        match until_available(shared, "reading who answers its caller", decision).await {
            None => return return_to_queue(shared, acker, request, last_attempt).await,
            Some(None) => {}
            Some(Some(Answer::Timeout)) => {
                shared.replies.forget(request.execution_id);
                shared.recorder.submit(aborted(&request, attempt), acker).await;
                return;
            }
            Some(Some(Answer::Reply(reply))) => {
                // The earlier delivery may have stopped between deciding and sending: its
                // caller may still wait. A second copy is harmless (the ingress takes the
                // first reply for an id and drops the rest).
                if let Some(reply_to) = &request.reply_to {
                    if let Err(error) = shared.replies.publish(reply_to, reply.clone()).await {
                        tracing::warn!(%error, execution = %request.execution_id, "sending the decided reply again failed");
                    }
                }
                shared.recorder.submit(answered_before(&request, attempt, reply), acker).await;
                return;
            }
        }
    }
    let (mode, reply_to, deadline) = (request.mode, request.reply_to.clone(), request.deadline);
    let outcome = if request.deadline.is_some_and(|deadline| deadline <= Utc::now()) {
        // The caller has been answered 408 already; running now would act on a request its
        // sender considers failed.
        Outcome { record: aborted(&request, attempt), answer: None }
    } else {
        let workflow = || shared.catalog.compiled(&request.workflow_key, request.version);
        match until_available(shared, "reading its workflow version", workflow).await {
            Some(Some(workflow)) => {
                let deadline = effective_deadline(&request, workflow.definition.options.timeout);
                run_execution(&workflow, request, attempt, deadline, &shared.metrics).await
            }
            Some(None) => Outcome {
                record: failed_before_start(&request, attempt, "workflow version not found"),
                answer: None,
            },
            None => return return_to_queue(shared, acker, request, last_attempt).await,
        }
    };
    let mut record = outcome.record;
    let reply = outcome.answer.map(|answer| Reply {
        execution_id: record.id,
        status_code: answer.status_code,
        headers: answer.headers,
        body: answer.body,
    });
    let aborted = record.status == ExecutionStatus::Aborted;
    match (&reply_to, mode) {
        (Some(reply_to), Mode::Sync) if !aborted => {
            let reply = reply.unwrap_or_else(|| default_reply(&record));
            answer(shared, &mut record, reply_to, reply, deadline).await;
        }
        // Nobody waits (a sync workflow replayed, which runs async): the record keeps what its
        // Response node would have answered.
        (None, _) if !aborted => {
            record.response = reply.and_then(|reply| serde_json::to_value(reply).ok());
        }
        _ => {}
    }
    if mode == Mode::Sync && aborted {
        // Never answered from here: whatever the ingress decided (408) can be let go.
        shared.replies.forget(record.id);
    }
    shared.metrics.observe_execution(&record.workflow_key, record.status.as_str(), started.elapsed());
    tracing::debug!(
        status = record.status.as_str(),
        took_ms = started.elapsed().as_millis(),
        "execution finished"
    );
    if matches!(record.status, ExecutionStatus::Error | ExecutionStatus::Failed) {
        // The reason may quote caller data; the log writer keeps each event on one line.
        tracing::info!(
            status = record.status.as_str(),
            reason = %record.reason.as_deref().unwrap_or_default(),
            "execution did not resolve"
        );
    }
    shared.recorder.submit(record, acker).await;
}

/// Answers the sync caller with `reply` if the caller's time is not up: the right to answer is
/// taken first ([`ReplyBus::decide`]), so that the caller's answer and the record agree. Lost
/// (the ingress answered 408) or undecidable (the bus is down, so the ingress cannot deliver a
/// reply either), the run is recorded `aborted` / `timeout` without a response. Won, the
/// reply sent is the record's response.
async fn answer(
    shared: &Shared,
    record: &mut ExecutionRecord,
    reply_to: &str,
    reply: Reply,
    deadline: Option<DateTime<Utc>>,
) {
    // Past the deadline the ingress answers 408, with or without a decision of its own (the
    // bus may be down for it): the worker never claims the answer that late.
    if deadline.is_some_and(|deadline| Utc::now() >= deadline) {
        tracing::info!(execution = %record.id, "finished past the caller's deadline; recorded as aborted");
        abort_for_timeout(record);
        return;
    }
    let keep_until = deadline.unwrap_or_else(Utc::now) + chrono::Duration::seconds(60);
    let decision = Answer::Reply(reply.clone());
    match shared.replies.decide(record.id, &decision, keep_until).await {
        Ok(true) => {
            record.response = serde_json::to_value(&reply).ok();
            if let Err(error) = shared.replies.publish(reply_to, reply).await {
                tracing::warn!(%error, execution = %record.id, "sending the sync reply failed");
            }
        }
        Ok(false) => {
            tracing::info!(execution = %record.id, "the caller was answered 408 first; recorded as aborted");
            abort_for_timeout(record);
        }
        Err(error) => {
            tracing::warn!(%error, execution = %record.id, "who answers the caller cannot be decided; recorded as aborted");
            abort_for_timeout(record);
        }
    }
}

/// The record of a run whose caller got 408: what ran stays, no response was sent.
fn abort_for_timeout(record: &mut ExecutionRecord) {
    record.status = ExecutionStatus::Aborted;
    record.reason = Some("timeout".into());
    record.response = None;
}

/// Runs a step that needs the database or the reply bus until it succeeds. While the
/// dependency is away the delivery is held, and its slot with it, so that a pool whose slots
/// are all held stops taking deliveries: returning it instead would count against the queue's
/// delivery limit, and an outage of seconds would dead-letter callbacks already answered 2xx.
/// `None` once the worker is stopping; the caller then returns the delivery.
async fn until_available<T, E, F, Fut>(shared: &Shared, what: &'static str, mut step: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut backoff = Backoff::new(Policy::RECONNECT);
    let mut held_since: Option<Instant> = None;
    loop {
        match step().await {
            Ok(value) => {
                if let Some(since) = held_since {
                    tracing::info!(held_for = ?since.elapsed(), "{what}: the dependency answers again");
                }
                return Some(value);
            }
            Err(error) => {
                if held_since.is_none() {
                    tracing::warn!(%error, "{what} failed; the execution is held until it succeeds");
                    held_since = Some(Instant::now());
                }
                if !pause(backoff.next_delay(), &shared.stopping).await {
                    return None;
                }
            }
        }
    }
}

/// Returns a delivery to the queue (the worker is stopping), counted when it goes to the dead
/// letters.
async fn return_to_queue(
    shared: &Shared,
    acker: Box<dyn hookflow_shared::queue::Acker>,
    request: ExecutionRequest,
    last_attempt: bool,
) {
    tracing::warn!(last_attempt, "stopping: execution returned to the queue");
    if acker.nack_with(request).await.is_ok() && last_attempt {
        shared.metrics.dead_lettered();
    }
}

/// The earlier of the caller's deadline and `options.timeout` counted from now.
fn effective_deadline(request: &ExecutionRequest, timeout_ms: u64) -> Option<tokio::time::Instant> {
    let now = tokio::time::Instant::now();
    let caller = request.deadline.map(|deadline| now + (deadline - Utc::now()).to_std().unwrap_or_default());
    let own = (timeout_ms > 0).then(|| now + Duration::from_millis(timeout_ms));
    match (caller, own) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The answer of a sync execution that ended without a Response node (SPEC §4).
pub fn default_reply(record: &ExecutionRecord) -> Reply {
    let (status_code, body) = match record.status {
        ExecutionStatus::Resolved => (200, json!({ "executionId": record.id, "status": "resolved" })),
        _ => (500, json!({ "error": { "code": "execution_failed", "executionId": record.id } })),
    };
    Reply { execution_id: record.id, status_code, headers: Vec::new(), body }
}

fn aborted(request: &ExecutionRequest, attempt: u32) -> ExecutionRecord {
    ExecutionRecord::not_run(request, attempt, ExecutionStatus::Aborted, "timeout")
}

/// The record of a delivery whose caller already got `reply` from an earlier delivery (its
/// worker stopped before recording): the reply stands, nothing ran again.
fn answered_before(request: &ExecutionRequest, attempt: u32, reply: Reply) -> ExecutionRecord {
    // Only the default answer of a failed run says the run failed; any other reply, 4xx
    // included, came from a Response node of a run that went on.
    let default_failure = reply.status_code == 500
        && reply.body.pointer("/error/code").and_then(|c| c.as_str()) == Some("execution_failed");
    let status = if default_failure { ExecutionStatus::Failed } else { ExecutionStatus::Resolved };
    let mut record = ExecutionRecord::not_run(request, attempt, status, "answered by an earlier delivery");
    record.response = serde_json::to_value(&reply).ok();
    record
}

fn failed_before_start(request: &ExecutionRequest, attempt: u32, reason: &str) -> ExecutionRecord {
    ExecutionRecord::not_run(request, attempt, ExecutionStatus::Error, reason)
}
