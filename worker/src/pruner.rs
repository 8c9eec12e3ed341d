//! Deletes execution records older than `HOOKFLOW_EXECUTION_RETENTION`, and idempotency keys
//! past their TTL, hourly.

use std::time::Duration;

use hookflow_shared::storage::Storage;
use tokio_util::sync::CancellationToken;

/// How often old records are looked for.
const EVERY: Duration = Duration::from_secs(3600);

/// Runs until `shutdown`; the first pass happens at start.
pub async fn run(storage: Storage, retention: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Ok(retention) = chrono::Duration::from_std(retention) else { return };
        let before = chrono::Utc::now() - retention;
        match storage.prune_executions(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "deleted execution records past their retention"),
            Err(error) => tracing::warn!(%error, "pruning execution records failed; will retry"),
        }
        match storage.prune_keys(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "deleted expired idempotency keys"),
            Err(error) => tracing::warn!(%error, "pruning idempotency keys failed; will retry"),
        }
    }
}
