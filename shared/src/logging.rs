//! Tracing set-up shared by both binaries: `HOOKFLOW_LOG` filter, text or JSON lines, and
//! the OpenTelemetry exporter of [`crate::telemetry`] when `HOOKFLOW_OTLP_ENDPOINT` is set.
//!
//! Log lines quote values that callers control (a header, a panic message that repeats a body
//! value). Whatever a field holds, each event stays one line: text lines are written through
//! [`OneLine`], which escapes control characters, and panics are logged as events with their
//! message escaped instead of by the default hook's raw print.

use std::io::Write;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};
use crate::telemetry::Telemetry;

/// Installs the global subscriber and the panic hook once; later calls (tests) are ignored.
/// With `HOOKFLOW_OTLP_ENDPOINT`, Hookflow's own spans are also exported as `service`'s
/// traces (whatever the log filter says); the returned [`Telemetry`] flushes them at exit.
pub fn init(config: &Config, service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_target(false).boxed(),
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_ansi(false).with_target(false).with_writer(OneLine).boxed()
        }
    };
    let telemetry = match &config.otlp_endpoint {
        Some(endpoint) => Telemetry::start(endpoint, service).unwrap_or_else(|error| {
            eprintln!("hookflow: traces are off: {error}");
            Telemetry::off()
        }),
        None => Telemetry::off(),
    };
    // Only Hookflow's spans become traces, not those of the libraries it uses.
    let traces = telemetry.tracer().map(|tracer| {
        let ours = Targets::new()
            .with_target("hookflow_ingress", tracing::Level::INFO)
            .with_target("hookflow_worker", tracing::Level::INFO)
            .with_target("hookflow_shared", tracing::Level::INFO);
        tracing_opentelemetry::layer().with_tracer(tracer).with_filter(ours)
    });
    let installed = tracing_subscriber::registry().with(lines.with_filter(filter)).with(traces).try_init();
    if installed.is_ok() {
        std::panic::set_hook(Box::new(|info| {
            let message = panic_text(info.payload());
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            tracing::error!(panic = ?message, %location, "panicked");
        }));
    }
    telemetry
}

/// The message a panic carried (`panic!` with a literal or a formatted one).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// Standard error, one line per event: control characters inside an event are escaped.
#[derive(Clone, Copy)]
pub struct OneLine;

impl<'a> MakeWriter<'a> for OneLine {
    type Writer = OneLineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter
    }
}

/// Writes one formatted event (the formatter hands over each event in a single write).
pub struct OneLineWriter;

impl Write for OneLineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let escaped = escape_line(bytes);
        std::io::stderr().lock().write_all(&escaped)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Escapes every control character but the event's final newline (and tabs).
pub fn escape_line(bytes: &[u8]) -> Vec<u8> {
    let (body, newline) = match bytes.split_last() {
        Some((b'\n', body)) => (body, true),
        _ => (bytes, false),
    };
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    if newline {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_on_one_line() {
        let forged = b"WARN value=\"a\nINFO forged: admin token accepted\r\x1b[2J\" done\n";
        let out = String::from_utf8(escape_line(forged)).unwrap();
        assert_eq!(out.matches('\n').count(), 1);
        assert!(out.ends_with(" done\n"));
        assert!(out.contains("a\\nINFO forged: admin token accepted\\r\\x1b[2J"), "{out}");
    }
}
