//! Tracing set-up shared by both binaries: `HOOKFLOW_LOG` filter, text or JSON lines.
//!
//! Log lines quote values that callers control (a header, a panic message that repeats a body
//! value). Whatever a field holds, each event stays one line: text lines are written through
//! [`OneLine`], which escapes control characters, and panics are logged as events with their
//! message escaped instead of by the default hook's raw print.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber and the panic hook once; later calls (tests) are ignored.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let installed = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).with_writer(OneLine).try_init(),
    };
    if installed.is_ok() {
        std::panic::set_hook(Box::new(|info| {
            let message = panic_text(info.payload());
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            tracing::error!(panic = ?message, %location, "panicked");
        }));
    }
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
