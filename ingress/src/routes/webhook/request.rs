//! Reading a webhook request into `$context`: the body within its size limit and time, parsed
//! as its content type says (`hookflow_shared::body`), lower-cased headers without credentials,
//! the qs-parsed query, `rawBody`, and the configured `_var` mappings.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use std::time::Duration;

use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use hookflow_shared::body::{self, BodyKind, Parsed};
use hookflow_shared::compiled::{Mapping, Mappings};
use hookflow_shared::qs;
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

/// The request's `Content-Type`, when it is readable text.
pub fn content_type(request: &HttpRequest) -> Option<&str> {
    request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Parses the body as its content type says (SPEC §4); a malformed declared body is a 400
/// with the parser's message.
pub async fn parse_body(kind: &BodyKind, raw: Bytes) -> Result<Parsed, ApiError> {
    body::parse(kind, raw).await.map_err(ApiError::BadRequest)
}

/// Refuses a body that could not travel to a worker and back: nested deeper than
/// [`body::MAX_DEPTH`], or holding serde_json's reserved raw-value key (see
/// [`qs::RESERVED_KEY`]), which would read back as something else. Iterative.
pub fn check_body(body: &Value) -> Result<(), ApiError> {
    let mut pending = vec![(body, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        if depth > body::MAX_DEPTH {
            return Err(ApiError::BadRequest(format!(
                "the body is nested deeper than {} levels",
                body::MAX_DEPTH
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

/// Copies the value at each mapping's path to its `_var` in the same object.
fn apply_mappings(target: &mut Value, mappings: &[Mapping]) {
    for mapping in mappings {
        let value = mapping.path.get(target).cloned().unwrap_or(Value::Null);
        if let Value::Object(map) = target {
            map.insert(mapping.var.clone(), value);
        }
    }
}

/// `$context`: `{headers, query, body}` with `_var`s added, and `rawBody` (with
/// `rawBodyEncoding` when base64) when given; `unstored` headers (the signature's) are left
/// out with the credentials.
pub fn build_context(
    request: &HttpRequest,
    body: Value,
    raw_body: Option<&[u8]>,
    mappings: &Mappings,
    unstored: &[String],
) -> Value {
    let mut headers = headers_object(request);
    for name in unstored {
        headers.remove(name);
    }
    let mut headers = Value::Object(headers);
    let mut query = qs::parse(request.query_string());
    let mut body = body;
    apply_mappings(&mut headers, &mappings.headers);
    apply_mappings(&mut query, &mappings.query);
    apply_mappings(&mut body, &mappings.body);
    let mut context = Map::with_capacity(3);
    context.insert("headers".into(), headers);
    context.insert("query".into(), query);
    context.insert("body".into(), body);
    if let Some(raw) = raw_body {
        let (text, encoding) = body::raw_body(raw);
        context.insert("rawBody".into(), text);
        if let Some(encoding) = encoding {
            context.insert("rawBodyEncoding".into(), Value::String(encoding.into()));
        }
    }
    Value::Object(context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::json;

    #[tokio::test]
    async fn bodies_that_could_not_be_queued_are_refused() {
        let mut deep = json!(1);
        for _ in 0..body::MAX_DEPTH {
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
                parse_body(&BodyKind::Json, Bytes::from(text)).await,
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
        let parsing: hookflow_shared::model::RequestParsing = serde_json::from_value(json!({
            "headers": [{"key": "X-Request-Id", "_var": "requestId"}],
            "query": [{"key": "order.id", "alias": "Order", "_var": "orderId"}],
            "body": [{"key": "data.items[0].id", "_var": "firstItem"}, {"key": "data.missing", "_var": "gone"}]
        }))
        .unwrap();
        let context = build_context(
            &request,
            json!({"data": {"items": [{"id": "i1"}]}}),
            Some(b"\xff"),
            &Mappings::compile(&parsing),
            &[],
        );
        assert_eq!(context["headers"]["x-request-id"], "r-1");
        assert_eq!(context["headers"]["requestId"], "r-1");
        assert!(context["headers"].get("authorization").is_none());
        assert!(context["headers"].get("cookie").is_none());
        assert!(context["headers"].get("proxy-authorization").is_none());
        assert_eq!(context["query"], json!({"order": {"id": "7"}, "tags": ["a"], "orderId": "7"}));
        assert_eq!(context["body"]["firstItem"], "i1");
        assert_eq!(context["body"]["gone"], Value::Null);
        assert_eq!(context["rawBody"], "/w==");
        assert_eq!(context["rawBodyEncoding"], "base64");
    }
}
