//! HTTP routes: the webhook endpoint, the admin API, and health/metrics.

pub mod admin;
pub mod health;
pub mod webhook;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    webhook::configure(cfg);
    admin::configure(cfg);
    health::configure(cfg);
}
