//! `end`: ends the whole execution with the configured status.

use hookflow_shared::model::EndConfig;
use serde_json::Value;

use super::{Next, NodeResult};

pub fn run<'n>(config: &EndConfig) -> NodeResult<'n> {
    NodeResult {
        status: config.end_status,
        result: Value::Null,
        next: Next::Stop { status: config.end_status, reason: None },
    }
}
