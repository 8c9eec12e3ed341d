//! Keeps every process's [`Catalog`] current in distributed mode: a saved or deleted workflow
//! is announced on `<ns>:workflows`; every ingress and worker reloads on the announcement, and
//! every 30 s in any case (a missed announcement heals by itself).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::redis_link::RedisLink;

/// The backstop refresh period.
const REFRESH_EVERY: Duration = Duration::from_secs(30);

fn channel(namespace: &str) -> String {
    format!("{namespace}:workflows")
}

/// Tells the other processes that a workflow changed.
#[derive(Clone)]
pub struct WorkflowAnnouncer {
    link: RedisLink,
    channel: String,
}

impl WorkflowAnnouncer {
    pub fn new(link: RedisLink, namespace: &str) -> Self {
        Self { link, channel: channel(namespace) }
    }

    /// Best effort: a lost announcement is repaired by the periodic refresh.
    pub async fn announce(&self, key: &str) {
        if let Err(error) = self.link.publish(&self.channel, key.as_bytes()).await {
            tracing::warn!(%error, key, "announcing a workflow change failed; others refresh within 30 s");
        }
    }
}

/// Reloads `catalog` on announcements and periodically, until `shutdown`.
pub fn follow_changes(link: &RedisLink, namespace: &str, catalog: Arc<Catalog>, shutdown: CancellationToken) {
    let wake = Arc::new(Notify::new());
    let on_message = wake.clone();
    let on_reconnect = wake.clone();
    link.subscribe(
        channel(namespace),
        shutdown.clone(),
        // Changes made while the subscription was down are picked up on reconnect.
        move |live| {
            if live {
                on_reconnect.notify_one();
            }
        },
        move |_| on_message.notify_one(),
    );
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(REFRESH_EVERY) => {}
            }
            if let Err(error) = catalog.reload().await {
                tracing::warn!(%error, "reloading workflows failed; retrying later");
            }
        }
    });
}
