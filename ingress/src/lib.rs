//! Hookflow's ingress: the HTTP side. Webhook calls become queued executions; the admin API
//! manages workflows and shows executions; `/healthz`, `/readyz` serve probes, and `/metrics`
//! is served (with them) on the operator listener of its own.
//!
//! Layout:
//! - [`startup`]: builds an [`Application`] from a [`hookflow_shared::config::Config`].
//! - [`routes`]: `webhook` (the hot path), `admin`, `health` (no `/metrics` on this port).
//! - [`error`]: the one mapping from failures to JSON HTTP answers.
//! - [`workflows`], [`workflow_files`]: saving workflows (API and files alike).
//! - [`limits`]: how much work one ingress takes on at once.
//! - [`cli`]: the subcommands that are not the server (`import`, `--help`).
//! - [`metrics`], [`state`]: what handlers share.

pub mod cli;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod state;
pub mod workflow_files;
pub mod workflows;

pub use startup::{Application, WorkerStarter};
