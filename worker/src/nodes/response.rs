//! `response`: renders status, headers and body into the answer for the sync caller and ends
//! the execution. Rendered header values are checked again (data may carry CR/LF). Like
//! NocoBase's, the node has no result of its own: what it answered is the execution's
//! `response`.

use hookflow_shared::compiled;
use hookflow_shared::model::{is_valid_header_value, Header};
use hookflow_shared::template::Variables;
use serde_json::Value;

use super::{Answer, Next, NodeResult};

pub fn run<'n>(key: &str, answer: &compiled::Answer, variables: &Variables<'_>) -> NodeResult<'n> {
    let mut headers = Vec::with_capacity(answer.headers.len());
    for (name, template) in &answer.headers {
        let value = match variables.render_text(template) {
            Ok(value) => value,
            Err(error) => return NodeResult::error(key, format!("header {name:?}: {error}")),
        };
        if !is_valid_header_value(&value) {
            return NodeResult::error(
                key,
                format!("header {name:?} rendered to a value with CR, LF or control characters"),
            );
        }
        headers.push(Header { name: name.clone(), value });
    }
    let body = match variables.render(&answer.body) {
        Ok(body) => body,
        Err(error) => return NodeResult::error(key, format!("body: {error}")),
    };
    let answer = Answer { status_code: answer.status_code, headers, body };
    NodeResult::resolved(Value::Null, Next::Answer(answer))
}
