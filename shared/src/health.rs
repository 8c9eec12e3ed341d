//! What a process depends on, watched: each dependency is probed every [`PROBE_EVERY`] (each
//! probe bounded by [`PROBE_TIMEOUT`]), its state kept for the probes of the orchestrator and
//! exported as `hookflow_dependency_up{dependency}`. Probes of `/readyz` and `/healthz` read
//! the kept state, so a dependency that hangs never makes a probe hang, and a probe costs the
//! dependency nothing.
//!
//! Readiness is decided by the dependencies marked required — what the process cannot do its
//! job without (the ingress: the broker that takes webhooks; the worker: everything) — and
//! turns false for good once the process begins to stop, so that traffic moves elsewhere
//! while it drains. The others are shown, not gating: an ingress without Redis still takes
//! async webhooks (and answers sync ones 503 at once).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture};
use prometheus::{IntGaugeVec, Opts, Registry};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

/// How often every dependency is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe that takes longer counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Failed probes in a row that make a dependency that was up count as down: one slow answer
/// under load (a busy connection pool) must not take the process out of service.
pub const DOWN_AFTER: u32 = 3;

type Probe = Box<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// One thing a process depends on, and how to tell whether it answers.
pub struct Dependency {
    name: &'static str,
    required: bool,
    probe: Probe,
}

impl Dependency {
    /// A dependency without which the process is not ready.
    pub fn required<F>(name: &'static str, probe: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: std::future::Future<Output = bool> + Send + 'static,
    {
        Self { name, required: true, probe: Box::new(move || Box::pin(probe())) }
    }

    /// A dependency shown in the health details and the gauge, but not gating readiness.
    pub fn optional<F>(name: &'static str, probe: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: std::future::Future<Output = bool> + Send + 'static,
    {
        Self { required: false, ..Self::required(name, probe) }
    }
}

struct Watched {
    dependency: Dependency,
    up: AtomicBool,
    /// Failed probes since the last answer.
    failures: AtomicU32,
}

/// The watched dependencies of a process, and whether it is stopping.
pub struct Health {
    watched: Vec<Watched>,
    gauge: IntGaugeVec,
    stopping: AtomicBool,
}

impl Health {
    /// Registers `hookflow_dependency_up{dependency}` and probes every dependency once.
    pub async fn new(registry: &Registry, dependencies: Vec<Dependency>) -> prometheus::Result<Arc<Self>> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "hookflow_dependency_up",
                "Whether a dependency answered its last probe (1) or not (0)",
            ),
            &["dependency"],
        )?;
        registry.register(Box::new(gauge.clone()))?;
        let watched = dependencies
            .into_iter()
            .map(|dependency| Watched { dependency, up: AtomicBool::new(false), failures: AtomicU32::new(0) })
            .collect();
        let health = Arc::new(Self { watched, gauge, stopping: AtomicBool::new(false) });
        health.refresh().await;
        Ok(health)
    }

    /// Probes every dependency now, at once. A dependency is up once it answers, and down once
    /// it failed [`DOWN_AFTER`] probes in a row (at once if it never answered).
    pub async fn refresh(&self) {
        let probes = self.watched.iter().map(|watched| async move {
            let answered =
                tokio::time::timeout(PROBE_TIMEOUT, (watched.dependency.probe)()).await.unwrap_or(false);
            let up = if answered {
                watched.failures.store(0, Ordering::SeqCst);
                true
            } else {
                let failures = watched.failures.fetch_add(1, Ordering::SeqCst).saturating_add(1);
                watched.up.load(Ordering::SeqCst) && failures < DOWN_AFTER
            };
            let was = watched.up.swap(up, Ordering::SeqCst);
            if was != up {
                let dependency = watched.dependency.name;
                if up {
                    tracing::info!(dependency, "dependency answers again");
                } else {
                    tracing::warn!(dependency, "dependency does not answer");
                }
            }
            self.gauge.with_label_values(&[watched.dependency.name]).set(i64::from(up));
        });
        join_all(probes).await;
    }

    /// Probes every [`PROBE_EVERY`] until `shutdown`.
    pub fn watch(self: &Arc<Self>, shutdown: CancellationToken) {
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(PROBE_EVERY) => {}
                }
                health.refresh().await;
            }
        });
    }

    /// From now on the process is not ready: it is draining.
    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether the process can do its job now.
    pub fn is_ready(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst)
            && self.watched.iter().all(|w| !w.dependency.required || w.up.load(Ordering::SeqCst))
    }

    /// Whether a dependency answered its last probe (`None` for one not watched).
    pub fn is_up(&self, name: &str) -> Option<bool> {
        self.watched.iter().find(|w| w.dependency.name == name).map(|w| w.up.load(Ordering::SeqCst))
    }

    /// `{"<dependency>": "ok"|"unreachable", …}`.
    pub fn dependencies(&self) -> Map<String, Value> {
        self.watched
            .iter()
            .map(|w| {
                let state = if w.up.load(Ordering::SeqCst) { "ok" } else { "unreachable" };
                (w.dependency.name.to_owned(), json!(state))
            })
            .collect()
    }

    /// `ready`, `stopping` or `unavailable`.
    pub fn status(&self) -> &'static str {
        if self.stopping.load(Ordering::SeqCst) {
            "stopping"
        } else if self.is_ready() {
            "ready"
        } else {
            "unavailable"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn flag(initial: bool) -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(initial))
    }

    fn following(name: &'static str, required: bool, flag: &Arc<AtomicBool>) -> Dependency {
        let flag = flag.clone();
        let probe = move || {
            let up = flag.load(Ordering::SeqCst);
            async move { up }
        };
        if required {
            Dependency::required(name, probe)
        } else {
            Dependency::optional(name, probe)
        }
    }

    #[tokio::test]
    async fn only_required_dependencies_gate_readiness() {
        let (broker, redis) = (flag(true), flag(false));
        let registry = Registry::new();
        let health = Health::new(
            &registry,
            vec![following("broker", true, &broker), following("redis", false, &redis)],
        )
        .await
        .unwrap();
        assert!(health.is_ready(), "redis is optional");
        assert_eq!(health.is_up("redis"), Some(false));
        let text = crate::ops::render(&registry);
        assert!(text.contains(r#"hookflow_dependency_up{dependency="broker"} 1"#), "{text}");
        assert!(text.contains(r#"hookflow_dependency_up{dependency="redis"} 0"#), "{text}");

        broker.store(false, Ordering::SeqCst);
        for _ in 1..DOWN_AFTER {
            health.refresh().await;
            assert!(health.is_ready(), "one slow answer does not take the process out of service");
        }
        health.refresh().await;
        assert!(!health.is_ready());
        assert_eq!(health.status(), "unavailable");
        assert_eq!(
            Value::Object(health.dependencies()),
            json!({"broker": "unreachable", "redis": "unreachable"})
        );
    }

    #[tokio::test]
    async fn stopping_is_never_ready_again() {
        let up = flag(true);
        let health = Health::new(&Registry::new(), vec![following("database", true, &up)]).await.unwrap();
        assert_eq!(health.status(), "ready");
        health.begin_stopping();
        health.refresh().await;
        assert!(!health.is_ready());
        assert_eq!(health.status(), "stopping");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_counts_as_down() {
        let hangs = Dependency::required("database", futures_util::future::pending::<bool>);
        let health = Health::new(&Registry::new(), vec![hangs]).await.unwrap();
        assert_eq!(health.is_up("database"), Some(false));
        assert!(!health.is_ready());
    }
}
