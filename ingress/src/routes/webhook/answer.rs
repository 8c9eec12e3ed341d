//! Builds the HTTP answer from a status, headers and a JSON body (Response node or async
//! trigger response): a string body is text/plain, null is empty, anything else JSON, unless
//! a Content-Type header is configured.

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use hookflow_shared::model::Header;
use serde_json::Value;

pub fn build(status: u16, headers: &[Header], body: &Value) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    let mut has_content_type = false;
    for header in headers {
        // Names and values were validated when the workflow was saved and values again after
        // rendering; a failure here would be a bug, so the header is skipped, not the answer.
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(header.name.as_bytes()), HeaderValue::from_str(&header.value))
        else {
            tracing::warn!(header = %header.name, "skipping an invalid response header");
            continue;
        };
        has_content_type |= name == CONTENT_TYPE;
        response.append_header((name, value));
    }
    let (default_type, bytes) = match body {
        Value::Null => (None, Vec::new()),
        Value::String(text) => (Some("text/plain; charset=utf-8"), text.clone().into_bytes()),
        other => (Some("application/json"), serde_json::to_vec(other).unwrap_or_default()),
    };
    if let (false, Some(content_type)) = (has_content_type, default_type) {
        response.insert_header((CONTENT_TYPE, content_type));
    }
    response.body(bytes)
}
