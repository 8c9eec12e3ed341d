//! What each node kind does. A node gets the execution's variables and returns its job's
//! status and result, and where the flow goes next.

mod calculation;
mod calculators;
mod condition;
mod response;
mod scripted;

use hookflow_shared::compiled::{Action, CompiledNode};
use hookflow_shared::model::{ExecutionStatus, Header};
use hookflow_shared::template::Variables;
use serde_json::{json, Value};

/// What a Response node answers; the pool makes it the caller's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status_code: u16,
    pub headers: Vec<Header>,
    pub body: Value,
}

/// Where the flow goes after a node.
pub enum Next<'n> {
    /// The next node of the same sequence.
    Continue,
    /// Into this branch; afterwards, the node after the branching node.
    Branch(&'n [CompiledNode]),
    /// Answer the caller and end the execution (resolved).
    Answer(Answer),
    /// End the whole execution.
    Stop { status: ExecutionStatus, reason: Option<String> },
}

/// A node's job: its status, its result (`$jobsMapByNodeKey.<key>`) and what follows.
pub struct NodeResult<'n> {
    pub status: ExecutionStatus,
    pub result: Value,
    pub next: Next<'n>,
}

impl<'n> NodeResult<'n> {
    fn resolved(result: Value, next: Next<'n>) -> Self {
        Self { status: ExecutionStatus::Resolved, result, next }
    }

    /// The node could not do its work: the job and the execution end in `error`.
    fn error(node_key: &str, message: String) -> Self {
        let reason = format!("node {node_key}: {message}");
        Self {
            status: ExecutionStatus::Error,
            result: json!({ "error": message }),
            next: Next::Stop { status: ExecutionStatus::Error, reason: Some(reason) },
        }
    }
}

/// Runs one node.
pub async fn run<'n>(node: &'n CompiledNode, variables: &Variables<'_>) -> NodeResult<'n> {
    match &node.action {
        Action::Condition(condition) => condition::run(&node.key, condition, variables),
        Action::Calculation(evaluation) => calculation::run(&node.key, evaluation, variables),
        Action::Response(answer) => response::run(&node.key, answer, variables),
        Action::End(status) => NodeResult {
            status: *status,
            result: Value::Null,
            next: Next::Stop { status: *status, reason: None },
        },
    }
}
