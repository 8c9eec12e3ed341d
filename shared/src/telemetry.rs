//! Optional OpenTelemetry traces (`HOOKFLOW_OTLP_ENDPOINT`): one trace per webhook. The
//! ingress opens a `webhook` span, its W3C trace context travels in the execution's envelope
//! (so it crosses the queue with the execution, under the envelope's MAC), and the worker's
//! `execution` span continues that trace, with a `node` span per node run. Spans are exported
//! over OTLP/HTTP (protobuf) in batches from a thread of the exporter's own, so a slow or
//! absent collector costs the webhook path nothing but dropped spans.
//!
//! Without an endpoint nothing is exported and the webhook and node spans are not even created:
//! [`enabled`] is checked first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace context of a span (`traceparent`, `tracestate`), as carried in an envelope.
pub type TraceContext = BTreeMap<String, String>;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported by this process.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The exporter of a process; [`Telemetry::shutdown`] sends what is left.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// No traces.
    pub fn off() -> Self {
        Self { provider: None }
    }

    /// A provider exporting to `endpoint` (`/v1/traces` is added unless it is there), as
    /// `service` (`hookflow-ingress`, `hookflow-worker`).
    pub fn start(endpoint: &str, service: &'static str) -> anyhow::Result<Self> {
        let endpoint = endpoint.trim_end_matches('/');
        let url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/v1/traces")
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .map_err(|e| anyhow::anyhow!("HOOKFLOW_OTLP_ENDPOINT: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Self { provider: Some(provider) })
    }

    /// The tracer spans are exported through, when on.
    pub fn tracer(&self) -> Option<opentelemetry_sdk::trace::Tracer> {
        self.provider.as_ref().map(|provider| provider.tracer("hookflow"))
    }

    /// Exports the spans still buffered; waits for the exporter (call before exiting).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(error)) = flushed {
                tracing::warn!(%error, "exporting the last traces failed");
            }
        }
    }
}

/// The trace context of the current span, to carry with the execution (`None`, without
/// looking the span up, when traces are off).
pub fn current_context() -> Option<TraceContext> {
    if !enabled() {
        return None;
    }
    let mut carrier = TraceContext::new();
    let context = Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut CarrierMut(&mut carrier));
    (!carrier.is_empty()).then_some(carrier)
}

/// Makes `span` a child of the span whose context was carried.
pub fn continue_trace(span: &Span, carried: &TraceContext) {
    if !enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Carrier(carried));
    let _ = span.set_parent(parent);
}

struct Carrier<'a>(&'a TraceContext);

impl opentelemetry::propagation::Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct CarrierMut<'a>(&'a mut TraceContext);

impl opentelemetry::propagation::Injector for CarrierMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}
