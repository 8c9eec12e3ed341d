//! `/healthz` (the process is alive) and `/readyz` (its dependencies answer) on the main port,
//! for load balancers that probe the port they send traffic to. `/metrics` is not here: it is
//! served, with these two, on the operator listener ([`hookflow_shared::ops`]).

use actix_web::{web, HttpResponse};
use async_trait::async_trait;
use hookflow_shared::ops::{self, Readiness};

use crate::state::{AppState, Dependencies};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    ops::health_answer()
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    ops::readiness_answer(state.get_ref()).await
}

#[async_trait]
impl Readiness for AppState {
    async fn check(&self) -> Vec<(&'static str, bool)> {
        let mut checks = vec![("database", self.storage.ping().await.is_ok())];
        if let Dependencies::Distributed { producer, replies, redis } = &self.dependencies {
            checks.push(("broker", producer.is_connected()));
            checks.push(("redis", replies.is_listening() && redis.ping().await));
        }
        checks
    }
}
