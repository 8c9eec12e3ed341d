//! Reading a webhook request into `$context`: the body within its size limit, the content
//! type check, JSON or form parsing, lower-cased headers without credentials, the qs-parsed
//! query, and the configured `_var` mappings.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use std::time::Duration;

use actix_web::{web, HttpRequest};
use bytes::BytesMut;
use futures_util::StreamExt;
use hookflow_shared::model::{FieldMapping, RequestParsing};
use hookflow_shared::path::Path;
use hookflow_shared::{json_cost, qs};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::limits::BodyMemory;

/// Headers never stored: they carry credentials.
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Largest buffer set aside before any body byte has arrived: a declared length is only a
/// promise, and reserving it up front would let idle connections claim memory.
const INITIAL_BUFFER: usize = 8 * 1024;

/// The declared `Content-Length`, when there is a readable one.
pub fn declared_length(request: &HttpRequest) -> Option<usize> {
    request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Reads the body within `limit` bytes and `timeout`, reserving the memory it takes as it
/// arrives (503 when the shared budget is spent).
pub async fn read_body(
    mut payload: web::Payload,
    declared: Option<usize>,
    limit: usize,
    timeout: Duration,
    memory: &mut BodyMemory,
) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(INITIAL_BUFFER).min(limit));
    memory.grow(body.capacity())?;
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the request body failed: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let before = body.capacity();
            body.extend_from_slice(&chunk);
            memory.grow(body.capacity().saturating_sub(before))?;
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| ApiError::BodyTimeout)??;
    Ok(body)
}

/// Memory that parsing `body` may take, estimated before parsing: JSON by its number of
/// values ([`json_cost`]); a form is parsed into at most `qs`'s pair limit.
pub fn parse_cost(content_type: Option<&str>, body: &[u8]) -> usize {
    match body_kind(content_type) {
        Ok(BodyKind::Json) => json_cost::parse_cost(body),
        _ => body.len().saturating_mul(2) + qs::MAX_PARAMS * 2 * std::mem::size_of::<Value>(),
    }
}

/// How a non-empty body is parsed.
#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
}

/// The request's `Content-Type`, when it is readable text.
pub fn content_type(request: &HttpRequest) -> Option<&str> {
    request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn body_kind(content_type: Option<&str>) -> Result<BodyKind, ApiError> {
    let raw = content_type.unwrap_or_default();
    let essence = raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.contains('/') && essence.ends_with("+json")) {
        Ok(BodyKind::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Ok(BodyKind::Form)
    } else {
        let shown = if essence.is_empty() { "none".to_owned() } else { format!("{essence:?}") };
        Err(ApiError::UnsupportedMediaType(format!(
            "content type {shown} is not supported; send application/json (or */*+json) or application/x-www-form-urlencoded"
        )))
    }
}

/// Checks the content type (only when there is a body) and parses it; `{}` when empty.
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match body_kind(content_type)? {
        BodyKind::Json => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}"))),
        BodyKind::Form => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::BadRequest(format!("malformed form body: not UTF-8: {e}")))?;
            Ok(qs::parse(text))
        }
    }
}

/// Deepest nesting of a parsed body. The queue's JSON reader stops at 128 levels, and the
/// body sits two levels down in a queued message: a deeper body would be accepted here and
/// then be unreadable to the worker.
pub const MAX_BODY_DEPTH: usize = 64;

/// Refuses a body that could not travel to a worker and back: nested deeper than
/// [`MAX_BODY_DEPTH`], or holding serde_json's reserved raw-value key (see
/// [`qs::RESERVED_KEY`]), which would read back as something else. Iterative.
pub fn check_body(body: &Value) -> Result<(), ApiError> {
    let mut pending = vec![(body, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        if depth > MAX_BODY_DEPTH {
            return Err(ApiError::BadRequest(format!(
                "the body is nested deeper than {MAX_BODY_DEPTH} levels"
            )));
        }
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(map) => {
                if map.contains_key(qs::RESERVED_KEY) {
                    return Err(ApiError::BadRequest(format!(
                        "the body uses the reserved key {:?}",
                        qs::RESERVED_KEY
                    )));
                }
                pending.extend(map.values().map(|item| (item, depth + 1)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// All headers, names lower-cased, repeated headers joined with ", ", credentials left out.
pub fn headers_object(request: &HttpRequest) -> Map<String, Value> {
    let mut headers = Map::new();
    for (name, value) in request.headers() {
        let name = name.as_str();
        if SECRET_HEADERS.contains(&name) {
            continue;
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        match headers.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&text);
            }
            _ => {
                headers.insert(name.to_owned(), Value::String(text.into_owned()));
            }
        }
    }
    headers
}

/// Copies the value at each mapping's `key` to its `_var` in the same object.
fn apply_mappings(target: &mut Value, mappings: &[FieldMapping], lowercase_keys: bool) {
    for mapping in mappings {
        let Some(var) = mapping.var.as_deref() else { continue };
        let key = if lowercase_keys { mapping.key.to_ascii_lowercase() } else { mapping.key.clone() };
        let value = Path::parse(&key).get(target).cloned().unwrap_or(Value::Null);
        if let Value::Object(map) = target {
            map.insert(var.to_owned(), value);
        }
    }
}

/// `$context`: `{headers, query, body}` with `_var`s added; `unstored` headers (the
/// signature's) are left out with the credentials.
pub fn build_context(
    request: &HttpRequest,
    body: Value,
    parsing: &RequestParsing,
    unstored: &[&str],
) -> Value {
    let mut headers = headers_object(request);
    for name in unstored {
        headers.remove(*name);
    }
    let mut headers = Value::Object(headers);
    let mut query = qs::parse(request.query_string());
    let mut body = body;
    apply_mappings(&mut headers, &parsing.headers, true);
    apply_mappings(&mut query, &parsing.query, false);
    apply_mappings(&mut body, &parsing.body, false);
    let mut context = Map::with_capacity(3);
    context.insert("headers".into(), headers);
    context.insert("query".into(), query);
    context.insert("body".into(), body);
    Value::Object(context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[test]
    fn content_types() {
        let json = TestRequest::default()
            .insert_header((CONTENT_TYPE, "application/json; charset=utf-8"))
            .to_http_request();
        assert_eq!(body_kind(content_type(&json)).unwrap(), BodyKind::Json);
        assert_eq!(body_kind(Some("application/vnd.psp.event+json")).unwrap(), BodyKind::Json);
        assert_eq!(body_kind(Some("application/x-www-form-urlencoded")).unwrap(), BodyKind::Form);
        assert!(matches!(body_kind(Some("text/plain")), Err(ApiError::UnsupportedMediaType(_))));
        assert!(matches!(parse_body(None, b"x"), Err(ApiError::UnsupportedMediaType(_))));
        assert_eq!(parse_body(None, b"").unwrap(), json!({}));
    }

    #[test]
    fn bodies_that_could_not_be_queued_are_refused() {
        let mut deep = json!(1);
        for _ in 0..MAX_BODY_DEPTH {
            deep = json!([deep]);
        }
        assert!(matches!(check_body(&deep), Err(ApiError::BadRequest(_))));
        assert!(check_body(&deep[0]).is_ok());
        // A caller's JSON text with the key does not even parse (serde_json expects raw JSON
        // text under it), so it is refused as malformed; a value holding it is refused here.
        for text in [
            format!("{{\"a\":{{\"{}\":\"y\"}}}}", qs::RESERVED_KEY),
            format!("{{\"{}\":1}}", qs::RESERVED_KEY),
        ] {
            assert!(matches!(
                parse_body(Some("application/json"), text.as_bytes()),
                Err(ApiError::BadRequest(_))
            ));
        }
        assert!(matches!(check_body(&json!({"a": {qs::RESERVED_KEY: "y"}})), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn context_with_vars_and_without_credentials() {
        let request = TestRequest::post()
            .uri("/api/webhook:trigger/k?order[id]=7&tags[]=a")
            .insert_header(("X-Request-Id", "r-1"))
            .insert_header(("Authorization", "Basic eDp5"))
            .insert_header(("Cookie", "s=1"))
            .insert_header(("Proxy-Authorization", "Basic eDp5"))
            .to_http_request();
        let parsing: RequestParsing = serde_json::from_value(json!({
            "headers": [{"key": "X-Request-Id", "_var": "requestId"}],
            "query": [{"key": "order.id", "alias": "Order", "_var": "orderId"}],
            "body": [{"key": "data.items[0].id", "_var": "firstItem"}, {"key": "data.missing", "_var": "gone"}]
        }))
        .unwrap();
        let context = build_context(&request, json!({"data": {"items": [{"id": "i1"}]}}), &parsing, &[]);
        assert_eq!(context["headers"]["x-request-id"], "r-1");
        assert_eq!(context["headers"]["requestId"], "r-1");
        assert!(context["headers"].get("authorization").is_none());
        assert!(context["headers"].get("cookie").is_none());
        assert!(context["headers"].get("proxy-authorization").is_none());
        assert_eq!(context["query"], json!({"order": {"id": "7"}, "tags": ["a"], "orderId": "7"}));
        assert_eq!(context["body"]["firstItem"], "i1");
        assert_eq!(context["body"]["gone"], Value::Null);
    }
}
