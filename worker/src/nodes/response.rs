//! `response`: renders status, headers and body, answers the sync caller and ends the
//! execution. Rendered header values are checked again (data may carry CR/LF).

use hookflow_shared::execution::ExecutionRequest;
use hookflow_shared::model::{is_valid_header_value, Header, ResponseConfig};
use hookflow_shared::reply::Reply;
use hookflow_shared::template::Variables;
use serde_json::json;

use super::{Next, NodeResult};

pub fn run<'n>(
    key: &str,
    config: &ResponseConfig,
    variables: &Variables<'_>,
    request: &ExecutionRequest,
) -> NodeResult<'n> {
    let mut headers = Vec::with_capacity(config.headers.len());
    for header in &config.headers {
        let value = match variables.render_text(&header.value) {
            Ok(value) => value.into_owned(),
            Err(error) => return NodeResult::error(key, format!("header {:?}: {error}", header.name)),
        };
        if !is_valid_header_value(&value) {
            return NodeResult::error(
                key,
                format!("header {:?} rendered to a value with CR, LF or control characters", header.name),
            );
        }
        headers.push(Header { name: header.name.clone(), value });
    }
    let body = match variables.render_value(&config.body) {
        Ok(body) => body,
        Err(error) => return NodeResult::error(key, format!("body: {error}")),
    };
    let result = json!({ "statusCode": config.status_code, "headers": headers, "body": body });
    let reply = Reply { execution_id: request.execution_id, status_code: config.status_code, headers, body };
    NodeResult::resolved(result, Next::Reply(reply))
}
