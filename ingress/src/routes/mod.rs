//! HTTP routes of the main port: the webhook endpoint, the admin API, and health probes.

pub mod admin;
pub mod health;
pub mod webhook;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    webhook::configure(cfg);
    admin::configure(cfg);
    health::configure(cfg);
}
