//! What every handler shares: the catalog, storage, queue, reply bus, metrics and settings. The
//! metrics registry is not among them: no handler of the webhook port serves it.

use std::sync::Arc;
use std::time::Duration;

use hookflow_shared::catalog::Catalog;
use hookflow_shared::health::Health;
use hookflow_shared::queue::QueueProducer;
use hookflow_shared::reply::ReplyBus;
use hookflow_shared::storage::Storage;
use hookflow_shared::workflow_sync::WorkflowAnnouncer;

use crate::limits::Limits;
use crate::metrics::IngressMetrics;
use crate::routes::webhook::idempotency::KeyCache;

/// Settings the handlers read on every request, copied out of the configuration once.
#[derive(Clone)]
pub struct Settings {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub sync_timeout: Duration,
    /// Base of `webhookUrl`, without a trailing slash.
    pub public_url: String,
    pub admin_token: String,
    /// `HOOKFLOW_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Shared by every handler (wrapped in `web::Data`).
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub storage: Storage,
    pub producer: Arc<dyn QueueProducer>,
    pub replies: Arc<dyn ReplyBus>,
    /// Distributed mode: tells other processes that a workflow changed.
    pub announcer: Option<WorkflowAnnouncer>,
    /// Watched dependencies, for `/healthz` and `/readyz` on the webhook port.
    pub health: Arc<Health>,
    pub metrics: IngressMetrics,
    /// Requests in flight and body memory.
    pub limits: Limits,
    pub settings: Settings,
    /// Distributed: answered idempotency keys cached in Redis.
    pub key_cache: Option<KeyCache>,
}
