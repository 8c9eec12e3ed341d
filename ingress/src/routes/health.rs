//! `/healthz` (the process is alive, with each dependency's state) and `/readyz` (it can take
//! webhooks) on the main port, for load balancers that probe the port they send traffic to.
//! `/metrics` is not here: it is served, with these two, on the operator listener
//! ([`hookflow_shared::ops`]).

use actix_web::{web, HttpResponse};
use hookflow_shared::ops;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/readyz", web::get().to(readyz));
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    ops::health_answer(&state.health)
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    ops::readiness_answer(&state.health)
}
