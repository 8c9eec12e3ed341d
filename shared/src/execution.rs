//! What travels and what is kept: the [`ExecutionRequest`] a webhook queues (inside a versioned
//! [`QueueMessage`]), and the [`ExecutionRecord`] a worker writes when it is done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::model::{ExecutionStatus, Mode};

/// One webhook call to run: everything a worker needs, with no database read but the
/// definition of `workflow_key` at `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRequest {
    /// UUIDv7: time-ordered, so listing newest first is an index scan.
    pub execution_id: Uuid,
    pub workflow_key: String,
    /// The version current when the webhook arrived; the execution keeps it.
    pub version: i32,
    pub mode: Mode,
    /// `$context`: headers, query, body and `_var`s.
    pub context: Value,
    /// Where the sync answer goes (the ingress instance's reply address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Past this instant the execution is aborted (`reason: "timeout"`), run or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The idempotency key the call carried (raw value), kept in the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The execution this one replays (`POST /api/executions/{id}/replay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<Uuid>,
    /// The trace the execution belongs to (W3C trace context), when traces are on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::telemetry::TraceContext>,
}

/// The queue's wire format: a tagged, versioned envelope so that old and new processes can
/// share a queue during a rolling upgrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QueueMessage {
    #[serde(rename = "execute.v1")]
    ExecuteV1(ExecutionRequest),
}

impl QueueMessage {
    /// The wire form of an execution request, written from a borrow: the queues need the text,
    /// not a second copy of the context.
    pub fn encode(request: &ExecutionRequest) -> serde_json::Result<String> {
        /// [`QueueMessage`]'s shape over a reference; the tags must stay the same.
        #[derive(Serialize)]
        #[serde(tag = "type")]
        enum Borrowed<'a> {
            #[serde(rename = "execute.v1")]
            ExecuteV1(&'a ExecutionRequest),
        }
        serde_json::to_string(&Borrowed::ExecuteV1(request))
    }
}

/// A finished (or aborted) execution as stored and as the admin API shows it (SPEC §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    pub id: Uuid,
    pub workflow_key: String,
    pub version: i32,
    pub mode: Mode,
    pub status: ExecutionStatus,
    pub reason: Option<String>,
    pub context: Value,
    /// The reply sent to a sync caller.
    pub response: Option<Value>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The idempotency key the call carried (raw value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The execution this one replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<Uuid>,
    #[serde(default)]
    pub jobs: Vec<JobRecord>,
}

impl ExecutionRecord {
    /// The record of an execution that ends without running (timed out in the queue, its
    /// version gone, given up on): no jobs, the context kept for inspection and replay.
    pub fn not_run(request: &ExecutionRequest, attempt: u32, status: ExecutionStatus, reason: &str) -> Self {
        Self {
            id: request.execution_id,
            workflow_key: request.workflow_key.clone(),
            version: request.version,
            mode: request.mode,
            status,
            reason: Some(reason.to_owned()),
            context: request.context.clone(),
            response: None,
            attempts: i32::try_from(attempt).unwrap_or(i32::MAX),
            created_at: request.created_at,
            started_at: None,
            finished_at: Some(Utc::now()),
            idempotency_key: request.idempotency_key.clone(),
            replay_of: request.replay_of,
            jobs: Vec::new(),
        }
    }
}

/// One node run inside an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub node_key: String,
    pub node_type: String,
    pub status: ExecutionStatus,
    pub result: Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// A request for unit tests of the queue backends.
#[cfg(test)]
pub(crate) fn sample_request(mode: Mode) -> ExecutionRequest {
    ExecutionRequest {
        execution_id: Uuid::now_v7(),
        workflow_key: "k".into(),
        version: 1,
        mode,
        context: serde_json::json!({"body": {}}),
        reply_to: None,
        deadline: None,
        created_at: Utc::now(),
        idempotency_key: None,
        replay_of: None,
        trace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queue_message_is_tagged_and_versioned() {
        let request = ExecutionRequest {
            execution_id: Uuid::now_v7(),
            workflow_key: "orders".into(),
            version: 3,
            mode: Mode::Sync,
            context: json!({"body": {}}),
            reply_to: Some("ingress-1".into()),
            deadline: None,
            created_at: Utc::now(),
            idempotency_key: Some("evt_1".into()),
            replay_of: None,
            trace: None,
        };
        let wire = serde_json::to_value(QueueMessage::ExecuteV1(request.clone())).unwrap();
        assert_eq!(wire["type"], "execute.v1");
        assert_eq!(wire["workflowKey"], "orders");
        assert_eq!(wire["replyTo"], "ingress-1");
        assert_eq!(wire["idempotencyKey"], "evt_1");
        let back: QueueMessage = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(back, QueueMessage::ExecuteV1(request.clone()));
        let encoded: serde_json::Value =
            serde_json::from_str(&QueueMessage::encode(&request).unwrap()).unwrap();
        assert_eq!(encoded, wire, "encoding from a borrow writes the same message");
    }
}
