//! Hookflow's worker: takes executions off the queue, walks their node graphs, answers sync
//! callers through the reply bus and records what happened.
//!
//! Layout:
//! - [`engine`]: walks nested node sequences with NocoBase's semantics; knows nothing of queues.
//! - [`nodes`]: what each node type does.
//! - [`pool`]: the consumer loop: concurrency limit, deadlines, replies, graceful shutdown.
//! - [`recorder`]: batched, retried writes of finished executions; acks after they are stored.
//! - [`metrics`]: the worker's Prometheus metrics.
//! - [`pruner`]: deletes execution records past their retention.
//! - [`runtime`]: pool + recorder + pruner started and drained together (both modes).
//! - [`service`]: the distributed `worker` process with its health and metrics endpoints.

pub mod engine;
pub mod metrics;
pub mod nodes;
pub mod pool;
pub mod pruner;
pub mod recorder;
pub mod runtime;
pub mod service;
