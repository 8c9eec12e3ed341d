//! The ingress's Prometheus metrics (SPEC §10) in an owned registry; the operator listener
//! ([`hookflow_shared::ops`]) serves them.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Webhook-side metrics.
#[derive(Clone)]
pub struct IngressMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    publish_duration: Histogram,
    sync_inflight: IntGauge,
    sync_timeouts: IntCounter,
    duplicates: IntCounterVec,
}

/// From 100 µs to 30 s (the default sync wait).
const BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

impl IngressMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("hookflow_webhook_requests_total", "Webhook calls by workflow, mode and status code"),
            &["workflow", "mode", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("hookflow_webhook_request_duration_seconds", "Time to answer a webhook call")
                .buckets(BUCKETS.to_vec()),
            &["mode"],
        )?;
        let publish_duration = Histogram::with_opts(
            HistogramOpts::new(
                "hookflow_queue_publish_duration_seconds",
                "Time until the queue accepted an execution",
            )
            .buckets(BUCKETS.to_vec()),
        )?;
        let sync_inflight = IntGauge::new("hookflow_sync_inflight", "Sync callers waiting for their answer")?;
        let sync_timeouts = IntCounter::new("hookflow_sync_timeouts_total", "Sync callers answered 408")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(publish_duration.clone()))?;
        registry.register(Box::new(sync_inflight.clone()))?;
        let duplicates = IntCounterVec::new(
            Opts::new(
                "hookflow_webhook_duplicates_total",
                "Calls answered as duplicates of an earlier one by idempotency key",
            ),
            &["workflow"],
        )?;
        registry.register(Box::new(sync_timeouts.clone()))?;
        registry.register(Box::new(duplicates.clone()))?;
        Ok(Self { requests, duration, publish_duration, sync_inflight, sync_timeouts, duplicates })
    }

    /// Counts one answered webhook. `workflow` is empty for unknown keys, so that arbitrary
    /// URLs cannot grow the label set.
    pub fn observe_request(&self, workflow: &str, mode: &str, code: u16, took: Duration) {
        self.requests.with_label_values(&[workflow, mode, &code.to_string()]).inc();
        self.duration.with_label_values(&[mode]).observe(took.as_secs_f64());
    }

    pub fn observe_publish(&self, took: Duration) {
        self.publish_duration.observe(took.as_secs_f64());
    }

    /// Counts a sync caller as waiting until the returned guard is dropped, however the
    /// handler ends (answered, timed out, or cancelled because the caller went away).
    pub fn hold_sync_caller(&self) -> SyncCaller {
        self.sync_inflight.inc();
        SyncCaller(self.sync_inflight.clone())
    }

    pub fn sync_timeout(&self) {
        self.sync_timeouts.inc();
    }

    /// Counts a call recognised as a duplicate (answered, or told to retry while the first runs).
    pub fn duplicate(&self, workflow: &str) {
        self.duplicates.with_label_values(&[workflow]).inc();
    }
}

/// One waiting sync caller, counted in `hookflow_sync_inflight` while it lives.
pub struct SyncCaller(IntGauge);

impl Drop for SyncCaller {
    fn drop(&mut self) {
        self.0.dec();
    }
}
