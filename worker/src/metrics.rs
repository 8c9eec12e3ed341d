//! The worker's Prometheus metrics (SPEC §10), registered in a registry the caller owns (the
//! worker's own, or the ingress's in embedded mode).

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Execution and node metrics.
#[derive(Clone)]
pub struct WorkerMetrics {
    executions: IntCounterVec,
    execution_duration: prometheus::Histogram,
    node_duration: HistogramVec,
    dead_lettered: IntCounter,
    queue_messages: IntGaugeVec,
}

/// Buckets from 100 µs to 30 s: node runs are mostly sub-millisecond, HTTP calls are not.
const BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

impl WorkerMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let executions = IntCounterVec::new(
            Opts::new("hookflow_executions_total", "Finished executions by workflow and final status"),
            &["workflow", "status"],
        )?;
        let execution_duration = prometheus::Histogram::with_opts(
            HistogramOpts::new("hookflow_execution_duration_seconds", "Time to run one execution")
                .buckets(BUCKETS.to_vec()),
        )?;
        let node_duration = HistogramVec::new(
            HistogramOpts::new("hookflow_node_duration_seconds", "Time to run one node, by node type")
                .buckets(BUCKETS.to_vec()),
            &["type"],
        )?;
        let dead_lettered = IntCounter::new(
            "hookflow_executions_dead_lettered_total",
            "Executions given up after the delivery limit",
        )?;
        registry.register(Box::new(executions.clone()))?;
        registry.register(Box::new(execution_duration.clone()))?;
        registry.register(Box::new(node_duration.clone()))?;
        let queue_messages = IntGaugeVec::new(
            Opts::new("hookflow_queue_messages", "Messages waiting in each queue (distributed mode)"),
            &["queue"],
        )?;
        registry.register(Box::new(dead_lettered.clone()))?;
        registry.register(Box::new(queue_messages.clone()))?;
        Ok(Self { executions, execution_duration, node_duration, dead_lettered, queue_messages })
    }

    pub fn observe_execution(&self, workflow: &str, status: &str, took: Duration) {
        self.executions.with_label_values(&[workflow, status]).inc();
        self.execution_duration.observe(took.as_secs_f64());
    }

    pub fn observe_node(&self, node_type: &str, took: Duration) {
        self.node_duration.with_label_values(&[node_type]).observe(took.as_secs_f64());
    }

    pub fn dead_lettered(&self) {
        self.dead_lettered.inc();
    }

    pub fn set_queue_depth(&self, queue: &str, depth: u32) {
        self.queue_messages.with_label_values(&[queue]).set(i64::from(depth));
    }
}
