//! End-to-end tests of the embedded mode over real HTTP.

mod admin;
mod allowed_ips;
mod bodies;
mod engines;
mod hardening;
mod idempotency;
mod nocobase_import;
mod parsing;
mod replay;
mod service;
mod signatures;
mod timeouts;
mod webhook_async;
mod webhook_errors;
mod webhook_sync;
