//! The `ingress` binary: configuration from the environment, then [`Application`] until
//! SIGINT/SIGTERM. `ingress healthcheck` asks a running ingress's `/readyz` (for a container's
//! `HEALTHCHECK`) and exits 0 when it is ready; `ingress import FILE` prints the Hookflow
//! definition of a NocoBase workflow (`hookflow_ingress::cli`); `ingress --help` lists them.

use hookflow_ingress::{cli, Application};
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // Before the configuration: converting a file needs none.
        Some("import") => std::process::exit(cli::import(&args[1..])),
        Some("-h" | "--help" | "help") => {
            print!("{}", cli::USAGE);
            return Ok(());
        }
        _ => {}
    }
    let config = Config::from_env()?;
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return hookflow_shared::ops::healthcheck(&config);
    }
    let telemetry = hookflow_shared::logging::init(&config, "hookflow-ingress");
    tracing::info!(?config, "starting hookflow ingress");
    // Signals first: one that arrives while the application starts still stops it.
    let stop = hookflow_shared::shutdown::on_signal();
    // A start that hangs (a broker or database that does not answer) still ends on a signal.
    let application = tokio::select! {
        built = Application::build(config) => built?,
        _ = stop.cancelled() => {
            tracing::info!("stopped while starting");
            telemetry.shutdown().await;
            return Ok(());
        }
    };
    let ran = application.run(stop).await;
    telemetry.shutdown().await;
    ran
}
