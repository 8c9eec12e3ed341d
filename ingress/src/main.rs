//! The `ingress` binary: configuration from the environment, then [`Application`] until
//! SIGINT/SIGTERM.

use hookflow_ingress::Application;
use hookflow_shared::config::Config;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    hookflow_shared::logging::init(&config);
    tracing::info!(?config, "starting hookflow ingress");
    let application = Application::build(config).await?;
    application.run_until_stopped().await
}
