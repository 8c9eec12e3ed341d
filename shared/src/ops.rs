//! The operator listener both binaries serve on `HOOKFLOW_METRICS_LISTEN`: `/metrics` (the
//! process's Prometheus registry as text), `/healthz` (the process is alive, with the state of
//! each dependency) and `/readyz` (it can do its job: see [`Health`]). It is a listener of its
//! own so that metrics — workflow keys, traffic and error figures — are never reachable
//! through the webhook port, which faces the internet.
//!
//! `/readyz` answers `{"status": …, "<dependency>": "ok"|"unreachable", …}` and `/healthz`
//! `{"status": "ok", "dependencies": {…}}`; the ingress's own `/healthz` and `/readyz` on its
//! main port use the same functions. Signals are
//! not this server's business: the process stops it when its drain is done.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use serde_json::{json, Value};

use crate::health::Health;

/// A bound, not yet running operator listener.
pub struct OpsServer {
    server: Server,
    address: SocketAddr,
}

impl OpsServer {
    /// Binds `listen` (port 0 picks a free port). The error names `HOOKFLOW_METRICS_LISTEN`.
    pub fn bind(listen: SocketAddr, registry: Registry, health: Arc<Health>) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(listen).with_context(|| format!("binding HOOKFLOW_METRICS_LISTEN {listen}"))?;
        let address = listener.local_addr()?;
        let registry = web::Data::new(registry);
        let health = web::Data::from(health);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(registry.clone())
                .app_data(health.clone())
                .route("/metrics", web::get().to(metrics))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
        })
        // Scrapes and probes are rare and cheap: one thread is plenty and leaves the cores to
        // the work that matters.
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
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

async fn healthz(health: web::Data<Health>) -> HttpResponse {
    health_answer(&health)
}

async fn readyz(health: web::Data<Health>) -> HttpResponse {
    readiness_answer(&health)
}

/// A registry holding the process collector (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, open file descriptors, start time), which both binaries
/// export beside their own metrics.
pub fn new_registry() -> prometheus::Result<Registry> {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
    Ok(registry)
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

/// `/healthz`: 200 while the process answers at all (a dependency down is not a reason to
/// restart it), with the state of each dependency.
pub fn health_answer(health: &Health) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok", "dependencies": Value::Object(health.dependencies()) }))
}

/// `/readyz`: 200 when the process can do its job, 503 otherwise (a required dependency down,
/// or stopping), each dependency named.
pub fn readiness_answer(health: &Health) -> HttpResponse {
    let mut body = health.dependencies();
    body.insert("status".into(), json!(health.status()));
    if health.is_ready() {
        HttpResponse::Ok().json(Value::Object(body))
    } else {
        HttpResponse::ServiceUnavailable().json(Value::Object(body))
    }
}

/// The `healthcheck` subcommand of both binaries (a container's `HEALTHCHECK`, which has no
/// curl in a distroless image): asks this process's operator listener for `/readyz` and says
/// whether it answered 200. An unspecified listen address (`0.0.0.0`) is asked on loopback.
pub fn ready_on(listen: SocketAddr) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::time::Duration;

    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(if listen.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let timeout = Duration::from_secs(2);
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("{address}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("{address}: {e}"))?;
    let mut answer = Vec::new();
    // The status line and the small JSON body; bounded in case something else listens there.
    stream.take(64 * 1024).read_to_end(&mut answer).map_err(|e| format!("{address}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        Err(format!("{address}/readyz: {status} {body}"))
    }
}

/// `healthcheck`: [`ready_on`] this process's `HOOKFLOW_METRICS_LISTEN`, as an exit status.
pub fn healthcheck(config: &crate::config::Config) -> anyhow::Result<()> {
    ready_on(config.metrics_listen).map_err(|problem| anyhow::anyhow!("not ready: {problem}"))
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
    use crate::health::Dependency;

    async fn body_of(response: HttpResponse) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_web::test]
    async fn readiness_names_every_dependency() {
        let registry = Registry::new();
        let ready =
            Health::new(&registry, vec![Dependency::required("database", || async { true })]).await.unwrap();
        let (status, body) = body_of(readiness_answer(&ready)).await;
        assert_eq!((status, body), (200, json!({"status": "ready", "database": "ok"})));

        let down = Health::new(
            &Registry::new(),
            vec![
                Dependency::required("database", || async { true }),
                Dependency::required("broker", || async { false }),
            ],
        )
        .await
        .unwrap();
        let (status, body) = body_of(readiness_answer(&down)).await;
        assert_eq!(status, 503);
        assert_eq!(body, json!({"status": "unavailable", "database": "ok", "broker": "unreachable"}));
        let (status, body) = body_of(health_answer(&down)).await;
        assert_eq!(status, 200, "alive, whatever its dependencies");
        assert_eq!(body["dependencies"]["broker"], "unreachable");

        down.begin_stopping();
        let (status, body) = body_of(readiness_answer(&ready)).await;
        assert_eq!((status, body["status"].clone()), (200, json!("ready")));
        let (status, body) = body_of(readiness_answer(&down)).await;
        assert_eq!((status, body["status"].clone()), (503, json!("stopping")));
    }

    #[actix_web::test]
    async fn the_healthcheck_subcommand_reads_readiness() {
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = up.clone();
        let health = Health::new(
            &Registry::new(),
            vec![Dependency::required("database", move || {
                let up = flag.load(std::sync::atomic::Ordering::SeqCst);
                async move { up }
            })],
        )
        .await
        .unwrap();
        let ops = OpsServer::bind("0.0.0.0:0".parse().unwrap(), Registry::new(), health.clone()).unwrap();
        let address = ops.address();
        let server = ops.into_server();
        let handle = server.handle();
        tokio::spawn(server);
        let ask = move || tokio::task::spawn_blocking(move || ready_on(address));
        assert_eq!(ask().await.unwrap(), Ok(()));
        up.store(false, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..crate::health::DOWN_AFTER {
            health.refresh().await;
        }
        let refused = ask().await.unwrap().unwrap_err();
        assert!(refused.contains("503") && refused.contains("unreachable"), "{refused}");
        handle.stop(true).await;
        let closed = ask().await.unwrap().unwrap_err();
        assert!(!closed.is_empty());
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
