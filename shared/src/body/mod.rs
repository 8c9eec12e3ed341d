//! Webhook bodies as providers send them (SPEC §4), into `$context.body`: JSON and forms as
//! declared, `multipart/form-data` fields ([`multipart`]), XML converted to JSON ([`xml`]);
//! any other or no content type is JSON when it parses as JSON, else `{}`. Nothing is refused
//! for its content type. What was not read as JSON or a form is also kept as `rawBody`
//! ([`raw_body`]).

pub mod multipart;
pub mod xml;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::{json_cost, qs};

/// Deepest nesting a parsed body may have. The queue's JSON reader stops at 128 levels and
/// the body sits two levels down in a queued message: a deeper body would be accepted and then
/// be unreadable to the worker.
pub const MAX_DEPTH: usize = 64;

/// Deepest element nesting of an XML body: each element can take two JSON levels (an object,
/// and an array when it repeats), under the document's own object, within [`MAX_DEPTH`].
pub const MAX_XML_DEPTH: usize = (MAX_DEPTH - 1) / 2;

/// How a body is read, from its declared content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    /// With the boundary of its `Content-Type` (`None`: the header has none).
    Multipart(Option<String>),
    Xml,
    /// Anything else, or no content type: JSON when it parses, else nothing.
    Other,
}

impl BodyKind {
    pub fn of(content_type: Option<&str>) -> Self {
        let raw = content_type.unwrap_or_default();
        let essence = raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let structured_suffix = |suffix: &str| essence.contains('/') && essence.ends_with(suffix);
        match essence.as_str() {
            "application/json" => Self::Json,
            "application/x-www-form-urlencoded" => Self::Form,
            "multipart/form-data" => Self::Multipart(multer::parse_boundary(raw).ok()),
            "application/xml" | "text/xml" => Self::Xml,
            _ if structured_suffix("+json") => Self::Json,
            _ if structured_suffix("+xml") => Self::Xml,
            _ => Self::Other,
        }
    }
}

/// A parsed body, and whether it was read as JSON or a form (otherwise `rawBody` is kept).
#[derive(Debug, PartialEq)]
pub struct Parsed {
    pub body: Value,
    pub structured: bool,
}

/// Reads `raw` as its kind says; `Err` (a 400) when a declared JSON, form, multipart or XML
/// body is malformed, with the parser's message.
pub async fn parse(kind: &BodyKind, raw: Bytes) -> Result<Parsed, String> {
    if raw.is_empty() {
        return Ok(Parsed { body: Value::Object(Map::new()), structured: true });
    }
    let (body, structured) = match kind {
        BodyKind::Json => {
            (serde_json::from_slice(&raw).map_err(|e| format!("malformed JSON body: {e}"))?, true)
        }
        BodyKind::Form => {
            let text =
                std::str::from_utf8(&raw).map_err(|e| format!("malformed form body: not UTF-8: {e}"))?;
            (qs::parse(text), true)
        }
        BodyKind::Multipart(None) => {
            return Err("a multipart/form-data body needs a boundary parameter".into())
        }
        BodyKind::Multipart(Some(boundary)) => (multipart::to_json(raw, boundary).await?, false),
        BodyKind::Xml => (xml::to_json(&raw, MAX_XML_DEPTH)?, false),
        BodyKind::Other => match serde_json::from_slice::<Value>(&raw) {
            Ok(body) => (body, true),
            Err(_) => (Value::Object(Map::new()), false),
        },
    };
    Ok(Parsed { body, structured })
}

/// Memory parsing `raw` may take, estimated before parsing, `rawBody` included.
pub fn parse_cost(kind: &BodyKind, raw: &[u8]) -> usize {
    // One element or part is about an object, a key and a string once converted.
    const PER_MARKUP: usize = 160;
    let raw_copy = raw.len().saturating_mul(4) / 3 + 4;
    match kind {
        BodyKind::Json => json_cost::parse_cost(raw),
        BodyKind::Form => raw.len().saturating_mul(2) + qs::MAX_PARAMS * 2 * std::mem::size_of::<Value>(),
        BodyKind::Xml | BodyKind::Multipart(_) => {
            let markups = raw.iter().filter(|b| **b == b'<' || **b == b'\n').count();
            raw.len()
                .saturating_mul(2)
                .saturating_add(markups.saturating_mul(PER_MARKUP))
                .saturating_add(raw_copy)
        }
        BodyKind::Other => json_cost::parse_cost(raw).saturating_add(raw_copy),
    }
}

/// `rawBody`: the body as text, or base64 with `rawBodyEncoding: "base64"` when it is not
/// UTF-8.
pub fn raw_body(raw: &[u8]) -> (Value, Option<&'static str>) {
    match std::str::from_utf8(raw) {
        Ok(text) => (Value::String(text.to_owned()), None),
        Err(_) => (Value::String(STANDARD.encode(raw)), Some("base64")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn parsed(content_type: Option<&str>, raw: &'static [u8]) -> Result<Parsed, String> {
        parse(&BodyKind::of(content_type), Bytes::from_static(raw)).await
    }

    #[test]
    fn kinds() {
        assert_eq!(BodyKind::of(Some("application/json; charset=utf-8")), BodyKind::Json);
        assert_eq!(BodyKind::of(Some("application/vnd.psp.event+json")), BodyKind::Json);
        assert_eq!(BodyKind::of(Some("APPLICATION/X-WWW-FORM-URLENCODED")), BodyKind::Form);
        assert_eq!(BodyKind::of(Some("text/xml; charset=utf-8")), BodyKind::Xml);
        assert_eq!(BodyKind::of(Some("application/soap+xml")), BodyKind::Xml);
        assert_eq!(
            BodyKind::of(Some("multipart/form-data; boundary=abc")),
            BodyKind::Multipart(Some("abc".into()))
        );
        assert_eq!(BodyKind::of(Some("multipart/form-data")), BodyKind::Multipart(None));
        assert_eq!(BodyKind::of(Some("text/plain")), BodyKind::Other);
        assert_eq!(BodyKind::of(None), BodyKind::Other);
        assert_eq!(BodyKind::of(Some("+json")), BodyKind::Other);
    }

    #[tokio::test]
    async fn bodies() {
        let json = parsed(Some("application/json"), br#"{"a":1}"#).await.unwrap();
        assert_eq!(json, Parsed { body: json!({"a": 1}), structured: true });
        assert!(parsed(Some("application/json"), b"{").await.unwrap_err().contains("malformed JSON"));
        let form = parsed(Some("application/x-www-form-urlencoded"), b"a[b]=1").await.unwrap();
        assert_eq!(form.body, json!({"a": {"b": "1"}}));
        // Not declared: JSON when it parses, else nothing (and the text stays in rawBody).
        assert_eq!(
            parsed(None, br#"{"a":1}"#).await.unwrap(),
            Parsed { body: json!({"a": 1}), structured: true }
        );
        assert_eq!(
            parsed(Some("text/plain"), b"hello").await.unwrap(),
            Parsed { body: json!({}), structured: false }
        );
        assert_eq!(parsed(None, b"").await.unwrap().body, json!({}));
        let xml = parsed(Some("application/xml"), b"<a><b>1</b></a>").await.unwrap();
        assert_eq!(xml, Parsed { body: json!({"a": {"b": "1"}}), structured: false });
        assert!(parsed(Some("text/xml"), b"<a>").await.is_err());
        assert!(parsed(Some("multipart/form-data"), b"x").await.unwrap_err().contains("boundary"));
    }

    #[test]
    fn raw_bodies() {
        assert_eq!(raw_body(b"a=1"), (json!("a=1"), None));
        assert_eq!(raw_body(&[0xff, 0x00]), (json!("/wA="), Some("base64")));
    }
}
