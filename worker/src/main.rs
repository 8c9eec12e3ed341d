//! The `worker` binary (distributed mode): configuration from the environment, then
//! [`hookflow_worker::service::run`] until SIGINT/SIGTERM. `worker healthcheck` asks a running
//! worker's `/readyz` (for a container's `HEALTHCHECK`) and exits 0 when it is ready.

use hookflow_shared::config::Config;
use mimalloc::MiMalloc;

/// Same allocator as the ingress; see bench/README.md.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

// A multi-threaded runtime: actix-web's HTTP workers bring their own threads, and the rest
// (the worker pool, the recorder, broker and Redis I/O) would otherwise share a single one.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return hookflow_shared::ops::healthcheck(&config);
    }
    let telemetry = hookflow_shared::logging::init(&config, "hookflow-worker");
    tracing::info!(?config, "starting hookflow worker");
    let stop = hookflow_shared::shutdown::on_signal();
    let ran = hookflow_worker::service::run(config, stop).await;
    telemetry.shutdown().await;
    ran
}
