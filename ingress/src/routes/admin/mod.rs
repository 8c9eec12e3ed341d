//! The admin API (SPEC §8), behind the bearer token.

mod auth;
mod executions;
mod nocobase;
mod parse;
mod workflows;

use actix_web::web;

pub use auth::Admin;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before `workflows`: its `/api/workflows/{key}` would otherwise take `/api/workflows/import`.
    nocobase::configure(cfg);
    workflows::configure(cfg);
    executions::configure(cfg);
    parse::configure(cfg);
}
