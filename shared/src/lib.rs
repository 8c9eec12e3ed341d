//! Hookflow's shared core: everything both the `ingress` and the `worker` need.
//!
//! Layout:
//! - [`config`]: typed settings from the defaults file and `HOOKFLOW_*` variables.
//! - [`model`]: workflow definitions, nodes, validation, statuses.
//! - [`nocobase`]: NocoBase workflows imported into definitions and exported back.
//! - [`compiled`]: workflow versions compiled once for executions to run.
//! - [`path`], [`qs`], [`template`], [`expression`], [`js_value`]: reading values out of
//!   requests and workflow variables, with NocoBase's JavaScript rules.
//! - [`engines`]: NocoBase's `math.js` and `formula.js` engines in an embedded JavaScript
//!   runtime.
//! - [`storage`]: sea-orm persistence of workflows, versions, executions and jobs.
//! - [`catalog`]: the in-memory cache of workflow definitions the hot path reads.
//! - [`queue`], [`reply`]: how executions travel to workers and answers travel back, each a
//!   trait with an in-memory backend.
//! - [`redis_link`], [`workflow_sync`]: Redis pub/sub, and keeping catalogs current across
//!   processes in distributed mode.
//! - [`body`]: webhook bodies (JSON, forms, multipart, XML, anything else) into `$context`.
//! - [`budget`]: memory budgets in bytes shared by bodies, queued executions and deliveries.
//! - [`json_cost`]: the memory a JSON text takes once parsed, estimated before parsing.
//! - [`execution`]: the envelope of a queued execution and the record of a finished one.
//! - [`message_auth`]: the MACs that authenticate envelopes and replies between processes.
//! - [`client_ip`]: who is calling, through trusted proxies, and IP allow-lists.
//! - [`idempotency`]: which value of a call names it, so retries start one execution.
//! - [`signature`]: webhook signatures of the providers' presets, checked on the raw body.
//! - [`ops`]: the operator listener (`/metrics`, `/healthz`, `/readyz`) both binaries serve.
//! - [`health`]: dependencies probed in the background, readiness, `hookflow_dependency_up`.
//! - [`retry`]: the one retry policy (backoff with jitter) of every reconnect and retry.
//! - [`telemetry`]: optional OpenTelemetry traces, carried from the ingress to the worker.
//! - [`shutdown`]: SIGTERM/SIGINT as one cancellation token that drives each process's drain.

pub mod body;
pub mod budget;
pub mod catalog;
pub mod client_ip;
pub mod compiled;
pub mod config;
pub mod engines;
pub mod execution;
pub mod expression;
pub mod health;
pub mod idempotency;
pub mod js_value;
pub mod json_cost;
pub mod logging;
pub mod message_auth;
pub mod model;
pub mod nocobase;
pub mod ops;
pub mod path;
pub mod qs;
pub mod queue;
pub mod redis_link;
pub mod reply;
pub mod retry;
pub mod shutdown;
pub mod signature;
pub mod storage;
pub mod telemetry;
pub mod template;
pub mod workflow_sync;
