//! The operator listener both binaries serve on `HOOKFLOW_METRICS_LISTEN`: `/metrics` (the
//! process's Prometheus registry as text), `/healthz` (the process is alive) and `/readyz` (its
//! dependencies answer). It is a listener of its own so that metrics — workflow keys, traffic
//! and error figures — are never reachable through the webhook port, which faces the internet.
//!
//! Each binary says what "ready" means through [`Readiness`]; the answers have one shape
//! (`{"status": "ready"|"unavailable", "<dependency>": "ok"|"unreachable", …}`), so the
//! ingress's own `/healthz` and `/readyz` on its main port use the same functions.
//! This module owns no state and starts nothing until its [`Server`] is polled.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use async_trait::async_trait;
use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use serde_json::{json, Map, Value};

/// What a process depends on, for `/readyz`.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// Each dependency's name and whether it answers now.
    async fn check(&self) -> Vec<(&'static str, bool)>;
}

/// Whether SIGINT/SIGTERM stop the operator listener by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// The listener is the process's only server and its end is the process's end (the worker).
    Stop,
    /// The process stops it once its main server has drained (the ingress), so `/metrics` can
    /// be read until the very end.
    Ignore,
}

/// A bound, not yet running operator listener.
pub struct OpsServer {
    server: Server,
    address: SocketAddr,
}

impl OpsServer {
    /// Binds `listen` (port 0 picks a free port). The error names `HOOKFLOW_METRICS_LISTEN`.
    pub fn bind(
        listen: SocketAddr,
        registry: Registry,
        readiness: Arc<dyn Readiness>,
        signals: Signals,
    ) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(listen).with_context(|| format!("binding HOOKFLOW_METRICS_LISTEN {listen}"))?;
        let address = listener.local_addr()?;
        let registry = web::Data::new(registry);
        let readiness = web::Data::from(readiness);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(registry.clone())
                .app_data(readiness.clone())
                .route("/metrics", web::get().to(metrics))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
        })
        // Scrapes and probes are rare and cheap: one thread is plenty and leaves the cores to
        // the work that matters.
        .workers(1);
        let server = match signals {
            Signals::Stop => server,
            Signals::Ignore => server.disable_signals(),
        };
        let server = server.listen(listener)?.run();
        Ok(Self { server, address })
    }

    /// The bound address (the port is the chosen one when `listen` had port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server: serves once polled (awaited or spawned); its handle stops it.
    pub fn into_server(self) -> Server {
        self.server
    }
}

async fn metrics(registry: web::Data<Registry>) -> HttpResponse {
    metrics_answer(&registry)
}

async fn healthz() -> HttpResponse {
    health_answer()
}

async fn readyz(readiness: web::Data<dyn Readiness>) -> HttpResponse {
    readiness_answer(readiness.get_ref()).await
}

/// The registry in Prometheus's text format.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::warn!(%error, "encoding metrics failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// `/metrics`.
pub fn metrics_answer(registry: &Registry) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(render(registry))
}

/// `/healthz`: answering at all is the point.
pub fn health_answer() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `/readyz`: 200 when every dependency answers, 503 otherwise, each one named.
pub async fn readiness_answer(readiness: &dyn Readiness) -> HttpResponse {
    let checks = readiness.check().await;
    let ready = checks.iter().all(|(_, ok)| *ok);
    let mut body = Map::new();
    body.insert("status".into(), json!(if ready { "ready" } else { "unavailable" }));
    for (name, ok) in checks {
        body.insert(name.into(), json!(if ok { "ok" } else { "unreachable" }));
    }
    if ready {
        HttpResponse::Ok().json(Value::Object(body))
    } else {
        HttpResponse::ServiceUnavailable().json(Value::Object(body))
    }
}

/// Registers `hookflow_messages_rejected_total{kind}` (messages from other processes dropped
/// because they were not authenticated or not acceptable) and returns the series of `kind`,
/// present at 0 from the start so that a rise is visible.
pub fn rejected_messages(registry: &Registry, kind: &str) -> prometheus::Result<IntCounter> {
    let counter = IntCounterVec::new(
        Opts::new(
            "hookflow_messages_rejected_total",
            "Messages from other Hookflow processes refused: no valid MAC, or content out of range",
        ),
        &["kind"],
    )?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter.with_label_values(&[kind]))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<(&'static str, bool)>);

    #[async_trait]
    impl Readiness for Fixed {
        async fn check(&self) -> Vec<(&'static str, bool)> {
            self.0.clone()
        }
    }

    async fn body_of(response: HttpResponse) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_web::test]
    async fn readiness_names_every_dependency() {
        let (status, body) = body_of(readiness_answer(&Fixed(vec![("database", true)])).await).await;
        assert_eq!((status, body), (200, json!({"status": "ready", "database": "ok"})));
        let (status, body) =
            body_of(readiness_answer(&Fixed(vec![("database", true), ("broker", false)])).await).await;
        assert_eq!(status, 503);
        assert_eq!(body, json!({"status": "unavailable", "database": "ok", "broker": "unreachable"}));
    }

    #[test]
    fn rejected_messages_start_at_zero() {
        let registry = Registry::new();
        let counter = rejected_messages(&registry, "reply").unwrap();
        assert!(render(&registry).contains(r#"hookflow_messages_rejected_total{kind="reply"} 0"#));
        counter.inc();
        assert!(render(&registry).contains(r#"hookflow_messages_rejected_total{kind="reply"} 1"#));
    }
}
