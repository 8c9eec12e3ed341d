//! Runs one execution: walks the sequences, keeps `$jobsMapByNodeKey`, collects job records,
//! and stops at the deadline with whatever ran so far.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Instant;

use chrono::Utc;
use futures_util::FutureExt;
use hookflow_shared::compiled::{CompiledNode, CompiledWorkflow};
use hookflow_shared::execution::{ExecutionRecord, ExecutionRequest, JobRecord};
use hookflow_shared::model::ExecutionStatus;
use hookflow_shared::template::Variables;
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::metrics::WorkerMetrics;
use crate::nodes::{self, Answer, Next, NodeResult};

/// How an execution ended.
#[derive(Debug)]
pub struct Outcome {
    /// Its record; `response` is filled in by whoever answers the caller.
    pub record: ExecutionRecord,
    /// The Response node's answer, when one ran.
    pub answer: Option<Answer>,
}

/// Where the walk stands.
enum Flow {
    Continue,
    Stop { status: ExecutionStatus, reason: Option<String> },
}

/// State of a running execution; kept outside the walk so that a timeout still has the jobs
/// that ran.
struct State<'a> {
    request: &'a ExecutionRequest,
    jobs: Vec<JobRecord>,
    jobs_by_key: Map<String, Value>,
    scopes: Map<String, Value>,
    answer: Option<Answer>,
    metrics: &'a WorkerMetrics,
    /// The node being run, to name it if it panics.
    running: Option<&'a str>,
    /// No node starts at or past it. Checked before each node as well as by the timer around
    /// the walk: a timer only fires when the walk yields, and nodes that never wait would
    /// otherwise run on past it.
    deadline: Option<tokio::time::Instant>,
}

/// Runs `workflow` for `request`, stopping at `deadline` (the earlier of the caller's wait
/// and the workflow's `options.timeout`).
pub async fn run_execution(
    workflow: &CompiledWorkflow,
    request: ExecutionRequest,
    attempt: u32,
    deadline: Option<tokio::time::Instant>,
    metrics: &WorkerMetrics,
) -> Outcome {
    let started_at = Utc::now();
    let mut state = State {
        request: &request,
        jobs: Vec::new(),
        jobs_by_key: Map::new(),
        scopes: Map::new(),
        answer: None,
        metrics,
        running: None,
        deadline,
    };
    let walked = {
        let walk = walk(&workflow.nodes, &mut state);
        let bounded = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, walk).await.ok(),
                None => Some(walk.await),
            }
        };
        // A panic inside a node (a library bug reached by caller data) ends this execution in
        // `error`, recorded with the jobs that ran; it never takes the worker down.
        AssertUnwindSafe(bounded).catch_unwind().await
    };
    let (status, reason) = match walked {
        Ok(None) => (ExecutionStatus::Aborted, Some("timeout".to_owned())),
        Ok(Some(Flow::Continue)) => (ExecutionStatus::Resolved, None),
        Ok(Some(Flow::Stop { status, reason })) => (status, reason),
        Err(panic) => {
            let node = state.running.unwrap_or("?");
            let message = panic_message(panic.as_ref());
            tracing::error!(execution = %request.execution_id, node, panic = ?message, "a node failed unexpectedly");
            state.answer = None;
            (ExecutionStatus::Error, Some(format!("node {node}: failed unexpectedly: {message}")))
        }
    };
    let answer = state.answer.take();
    let jobs = state.jobs;
    // The request is done with: its context moves into the record instead of being copied.
    let record = ExecutionRecord {
        id: request.execution_id,
        workflow_key: request.workflow_key,
        version: request.version,
        mode: request.mode,
        status,
        reason,
        context: request.context,
        response: None,
        attempts: attempt as i32,
        created_at: request.created_at,
        started_at: Some(started_at),
        finished_at: Some(Utc::now()),
        idempotency_key: request.idempotency_key,
        replay_of: request.replay_of,
        jobs,
    };
    Outcome { record, answer }
}

/// The text of a panic, shortened: it is stored in the record and may quote caller data.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    hookflow_shared::logging::panic_text(panic).chars().take(300).collect()
}

/// Walks one sequence. Boxed because branches recurse.
fn walk<'s, 'a: 's>(
    nodes: &'a [CompiledNode],
    state: &'s mut State<'a>,
) -> Pin<Box<dyn Future<Output = Flow> + Send + 's>> {
    Box::pin(async move {
        for node in nodes {
            if state.deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
                return Flow::Stop { status: ExecutionStatus::Aborted, reason: Some("timeout".into()) };
            }
            state.running = Some(&node.key);
            let started = Instant::now();
            let started_at = Utc::now();
            let NodeResult { status, result, next } = {
                let variables = Variables {
                    context: &state.request.context,
                    jobs: &state.jobs_by_key,
                    scopes: &state.scopes,
                };
                let span = match hookflow_shared::telemetry::enabled() {
                    true => tracing::info_span!("node", node = %node.key, r#type = node.kind.name()),
                    false => tracing::Span::none(),
                };
                nodes::run(node, &variables).instrument(span).await
            };
            state.metrics.observe_node(node.kind.name(), started.elapsed());
            state.jobs_by_key.insert(node.key.clone(), result.clone());
            state.jobs.push(JobRecord {
                node_key: node.key.clone(),
                node_type: node.kind.name().to_owned(),
                status,
                result,
                started_at,
                finished_at: Utc::now(),
            });
            match next {
                Next::Continue => {}
                Next::Branch(branch) => {
                    if let Flow::Stop { status, reason } = walk(branch, state).await {
                        return Flow::Stop { status, reason };
                    }
                }
                Next::Answer(answer) => {
                    state.answer = Some(answer);
                    return Flow::Stop { status: ExecutionStatus::Resolved, reason: None };
                }
                Next::Stop { status, reason } => return Flow::Stop { status, reason },
            }
        }
        Flow::Continue
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookflow_shared::model::{decode_workflow, Mode};
    use serde_json::json;
    use uuid::Uuid;

    fn request(body: Value) -> ExecutionRequest {
        ExecutionRequest {
            execution_id: Uuid::now_v7(),
            workflow_key: "wf-1".into(),
            version: 1,
            mode: Mode::Sync,
            context: json!({"headers": {}, "query": {}, "body": body}),
            reply_to: Some("local".into()),
            deadline: None,
            created_at: Utc::now(),
            idempotency_key: None,
            replay_of: None,
            trace: None,
        }
    }

    async fn run(nodes: Value, body: Value) -> Outcome {
        let definition = decode_workflow(
            json!({"key": "wf-1", "sync": true, "trigger": {"type": "webhook"}, "nodes": nodes}),
        )
        .unwrap();
        let workflow = CompiledWorkflow::compile(std::sync::Arc::new(definition));
        let metrics = WorkerMetrics::new(&prometheus::Registry::new()).unwrap();
        run_execution(&workflow, request(body), 1, None, &metrics).await
    }

    fn keys(outcome: &Outcome) -> Vec<&str> {
        outcome.record.jobs.iter().map(|j| j.node_key.as_str()).collect()
    }

    fn condition(key: &str, expression: &str, on_true: Value, on_false: Value) -> Value {
        json!({"key": key, "type": "condition", "config": {"engine": "expression", "expression": expression},
               "branches": {"true": on_true, "false": on_false}})
    }

    fn calc(key: &str, expression: &str) -> Value {
        json!({"key": key, "type": "calculation", "config": {"expression": expression}})
    }

    #[tokio::test]
    async fn a_finished_branch_continues_after_its_branching_node() {
        let outcome = run(
            json!([
                condition(
                    "c1",
                    "{{$context.body.n}} > 1",
                    json!([calc("t1", "1"), calc("t2", "2")]),
                    json!([calc("f1", "3")])
                ),
                calc("after", "{{$jobsMapByNodeKey.t2}} * 10")
            ]),
            json!({"n": 5}),
        )
        .await;
        assert_eq!(keys(&outcome), vec!["c1", "t1", "t2", "after"]);
        assert_eq!(outcome.record.status, ExecutionStatus::Resolved);
        assert_eq!(outcome.record.jobs[3].result, json!(20));
        assert_eq!(outcome.record.jobs[0].result, json!(true));
    }

    #[tokio::test]
    async fn nested_branches_unwind_to_the_outer_sequence() {
        let outcome = run(
            json!([
                condition(
                    "outer",
                    "true",
                    json!([
                        condition(
                            "inner",
                            "false",
                            json!([calc("x", "0")]),
                            json!([calc("inner_false", "1")])
                        ),
                        calc("outer_tail", "2")
                    ]),
                    json!([])
                ),
                calc("last", "3")
            ]),
            json!({}),
        )
        .await;
        assert_eq!(keys(&outcome), vec!["outer", "inner", "inner_false", "outer_tail", "last"]);
    }

    #[tokio::test]
    async fn end_stops_the_whole_execution() {
        let outcome = run(
            json!([
                condition(
                    "c",
                    "true",
                    json!([{"key": "stop", "type": "end", "config": {"endStatus": -1}}]),
                    json!([])
                ),
                calc("never", "1")
            ]),
            json!({}),
        )
        .await;
        assert_eq!(keys(&outcome), vec!["c", "stop"]);
        assert_eq!(outcome.record.status, ExecutionStatus::Failed);
        assert_eq!(outcome.record.jobs[1].status, ExecutionStatus::Failed);
    }

    #[tokio::test]
    async fn a_response_node_replies_and_ends() {
        let outcome = run(
            json!([
                {"key": "r", "type": "response", "config": {"statusCode": 201, "body": {"id": "{{$context.body.id}}"},
                 "headers": [{"name": "X-Id", "value": "id-{{$context.body.id}}"}]}},
                calc("never", "1")
            ]),
            json!({"id": 9}),
        )
        .await;
        assert_eq!(keys(&outcome), vec!["r"]);
        let answer = outcome.answer.unwrap();
        assert_eq!(answer.status_code, 201);
        assert_eq!(answer.body, json!({"id": 9}));
        assert_eq!(answer.headers[0].value, "id-9");
        assert_eq!(outcome.record.status, ExecutionStatus::Resolved);
        assert_eq!(outcome.record.jobs[0].result, Value::Null, "the answer is stored once, as the response");
    }

    #[tokio::test]
    async fn a_node_error_ends_the_execution_in_error() {
        let outcome =
            run(json!([calc("bad", "{{$context.body.s}} * 2"), calc("never", "1")]), json!({"s": "x"})).await;
        assert_eq!(keys(&outcome), vec!["bad"]);
        assert_eq!(outcome.record.status, ExecutionStatus::Error);
        assert!(outcome.record.reason.as_deref().unwrap().contains("bad"));
    }
}
