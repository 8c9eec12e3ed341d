//! `/healthz` (the process is alive), `/readyz` (its dependencies answer) and `/metrics`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::metrics;
use crate::state::{AppState, Dependencies};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let database = state.storage.ping().await.is_ok();
    let mut body = json!({ "database": word(database) });
    let mut ready = database;
    if let Dependencies::Distributed { producer, replies, redis } = &state.dependencies {
        let broker = producer.is_connected();
        let redis_ok = replies.is_listening() && redis.ping().await;
        body["broker"] = json!(word(broker));
        body["redis"] = json!(word(redis_ok));
        ready &= broker && redis_ok;
    }
    body["status"] = json!(if ready { "ready" } else { "unavailable" });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics::render(&state.registry))
}
