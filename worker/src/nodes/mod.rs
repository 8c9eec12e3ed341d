//! What each node type does. A node gets the execution's variables and returns its job's
//! status and result, and where the flow goes next.

mod calculation;
mod calculators;
mod condition;
mod end;
mod response;
mod scripted;

use hookflow_shared::execution::ExecutionRequest;
use hookflow_shared::model::{ExecutionStatus, Node};
use hookflow_shared::reply::Reply;
use hookflow_shared::template::Variables;
use serde_json::{json, Value};

/// Where the flow goes after a node.
pub enum Next<'n> {
    /// The next node of the same sequence.
    Continue,
    /// Into this branch; afterwards, the node after the branching node.
    Branch(&'n [Node]),
    /// Answer the caller and end the execution (resolved).
    Reply(Reply),
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
pub async fn run<'n>(
    node: &'n Node,
    variables: &Variables<'_>,
    request: &ExecutionRequest,
) -> NodeResult<'n> {
    match node {
        Node::Condition { key, config, branches, .. } => condition::run(key, config, branches, variables),
        Node::Calculation { key, config, .. } => calculation::run(key, config, variables),
        Node::Response { key, config, .. } => response::run(key, config, variables, request),
        Node::End { config, .. } => end::run(config),
    }
}
