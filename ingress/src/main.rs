//! The `ingress` binary: configuration from the environment, then [`Application`] until
//! SIGINT/SIGTERM.

use hookflow_ingress::Application;
use hookflow_shared::config::Config;
use mimalloc::MiMalloc;

/// glibc's allocator showed as a quarter of the webhook path's CPU time in the profile
/// (bench/README.md); mimalloc's thread-local free lists remove most of it.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

// A multi-threaded runtime: actix-web's HTTP workers bring their own threads, and the rest
// (the worker pool, the recorder, broker and Redis I/O) would otherwise share a single one.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    hookflow_shared::logging::init(&config);
    tracing::info!(?config, "starting hookflow ingress");
    let application = Application::build(config).await?;
    application.run_until_stopped().await
}
