//! Builds the HTTP answer from a status, headers and a JSON body (Response node or async
//! trigger response): a string body is text/plain, null is empty, anything else JSON, unless
//! a Content-Type header is configured. The async trigger response is a template over
//! `$context`, `$system` and `$env`, rendered here.

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use hookflow_shared::catalog::LiveWorkflow;
use hookflow_shared::model::{is_valid_header_value, Header};
use hookflow_shared::template::Variables;
use serde_json::{Map, Value};

/// The async trigger response's headers and body rendered over the call's `$context`. The
/// execution is queued whatever this gives, so a value that cannot be rendered is not an
/// error for the caller: a header that renders to CR/LF is left out, and a body past the
/// render limit is sent as configured; both are logged.
pub fn render_trigger_response(workflow: &LiveWorkflow, context: &Value) -> (Vec<Header>, Value) {
    let empty = Map::new();
    let variables = Variables { context, jobs: &empty, scopes: &empty };
    let compiled = &workflow.compiled.async_response;
    let mut headers = Vec::with_capacity(compiled.headers.len());
    for (name, template) in &compiled.headers {
        match variables.render_text(template) {
            Ok(value) if is_valid_header_value(&value) => headers.push(Header { name: name.clone(), value }),
            _ => {
                tracing::warn!(header = %name, "trigger response header left out: its value did not render to a valid header")
            }
        }
    }
    let body = variables.render(&compiled.body).unwrap_or_else(|error| {
        tracing::warn!(%error, "trigger response body sent unrendered");
        workflow.definition.trigger.response.body.clone()
    });
    (headers, body)
}

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
