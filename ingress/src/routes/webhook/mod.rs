//! `POST /api/webhook:trigger/{key}` (SPEC §4). Checks in the contract's order, builds
//! `$context`, queues the execution, then answers: async at once with the trigger's response,
//! sync with the workflow's reply (or 408 when it does not come in time). Reads no database.

mod answer;
mod auth;
pub mod request;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use hookflow_shared::body::{self, BodyKind};
use hookflow_shared::catalog::{LiveWorkflow, SignatureCheck};
use hookflow_shared::client_ip;
use hookflow_shared::execution::ExecutionRequest;
use hookflow_shared::model::Mode;
use hookflow_shared::queue::QueueError;
use uuid::Uuid;

use crate::error::{ApiError, Unavailable};
use crate::state::AppState;

/// Carried by every answer once an execution exists.
pub const EXECUTION_ID_HEADER: &str = "x-hookflow-execution-id";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/webhook:trigger/{key}")
            .route(web::post().to(trigger))
            .default_service(web::to(|| async { ApiError::MethodNotAllowed.error_response() })),
    );
}

/// A failure, with the execution id when one had been assigned.
struct Failure {
    error: ApiError,
    execution_id: Option<Uuid>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self { error, execution_id: None }
    }
}

async fn trigger(
    request: HttpRequest,
    key: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let workflow = state.catalog.get(&key).filter(|w| w.definition.enabled);
    let (label, mode) = match &workflow {
        Some(w) => (w.definition.key.as_str(), mode_of(w).as_str()),
        // Unknown keys are not used as label values: arbitrary URLs must not grow the series.
        None => ("", ""),
    };
    let response = match handle(&request, payload, &state, workflow.as_ref()).await {
        Ok(response) => response,
        Err(Failure { error, execution_id }) => {
            let mut response = error.error_response();
            if let Some(id) = execution_id {
                set_execution_header(&mut response, id);
            }
            response
        }
    };
    state.metrics.observe_request(label, mode, response.status().as_u16(), started.elapsed());
    response
}

fn mode_of(workflow: &LiveWorkflow) -> Mode {
    if workflow.definition.sync {
        Mode::Sync
    } else {
        Mode::Async
    }
}

async fn handle(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    workflow: Option<&Arc<LiveWorkflow>>,
) -> Result<HttpResponse, Failure> {
    let workflow = workflow.ok_or_else(|| ApiError::NotFound("no enabled workflow has this key".into()))?;
    if let Some(allowed) = &workflow.allowed_ips {
        if !caller_allowed(request, allowed, &state.settings.trusted_proxies) {
            return Err(ApiError::IpNotAllowed.into());
        }
    }
    // Held until the answer is built, sync wait included.
    let _slot = state.limits.admit()?;
    let definition = &workflow.definition;
    let settings = &state.settings;
    // Everything that needs only the headers is decided before a body byte is read, so a
    // caller that will be refused costs no body memory and no waiting.
    let declared = request::declared_length(request);
    if declared.is_some_and(|len| len > settings.max_body_bytes) {
        return Err(ApiError::PayloadTooLarge { limit: settings.max_body_bytes }.into());
    }
    if let Some(expected) = &definition.trigger.basic_authentication {
        if !auth::basic_auth_matches(request, expected) {
            return Err(ApiError::Unauthorized { challenge: "Basic realm=\"hookflow\"" }.into());
        }
    }
    let mut memory = state.limits.body_memory();
    let raw =
        request::read_body(payload, declared, settings.max_body_bytes, settings.body_timeout, &mut memory)
            .await?
            .freeze();
    // On the bytes as sent, before anything is parsed: a forged call costs no parsing.
    match &workflow.signature {
        SignatureCheck::Off => {}
        SignatureCheck::On(verifier) => {
            verifier.verify(request.headers(), &raw, Utc::now().timestamp()).map_err(ApiError::Signature)?;
        }
        SignatureCheck::Unusable => return Err(ApiError::Unavailable(Unavailable::SignatureSecrets).into()),
    }
    let kind = BodyKind::of(request::content_type(request));
    memory.grow(body::parse_cost(&kind, &raw))?;
    let parsed = request::parse_body(&kind, raw.clone()).await?;
    request::check_body(&parsed.body)?;
    let unstored = match &workflow.signature {
        SignatureCheck::On(verifier) => verifier.signature_headers(),
        _ => Vec::new(),
    };
    let parsing = &definition.trigger.request;
    let raw_body = (!parsed.structured || parsing.raw_body).then_some(&raw[..]);
    let context = request::build_context(request, parsed.body, raw_body, parsing, &unstored);
    drop(raw);

    let execution_id = Uuid::now_v7();
    let fail = |error: ApiError| Failure { error, execution_id: Some(execution_id) };
    let mode = mode_of(workflow);
    let wait = match (mode, definition.options.timeout) {
        (Mode::Sync, 0) => Some(settings.sync_timeout),
        (Mode::Sync, own) => Some(settings.sync_timeout.min(Duration::from_millis(own))),
        (Mode::Async, _) => None,
    };
    let now = Utc::now();
    // The sync caller's wait starts now and covers publishing too.
    let answer_by = wait.map(|wait| tokio::time::Instant::now() + wait);
    let execution = ExecutionRequest {
        execution_id,
        workflow_key: definition.key.clone(),
        version: workflow.version,
        mode,
        context,
        reply_to: wait.map(|_| state.replies.address().to_owned()),
        deadline: wait.and_then(|w| chrono::Duration::from_std(w).ok()).map(|w| now + w),
        created_at: now,
    };

    let Some(answer_by) = answer_by else {
        // Rendered before publishing, while the context is at hand; the answer says only that
        // the execution is queued, so it is sent once the queue has confirmed it.
        let (headers, body) =
            answer::render_trigger_response(&definition.trigger.response, &execution.context);
        publish(state, execution).await.map_err(fail)?;
        drop(memory);
        let mut response = answer::build(definition.trigger.response.status_code, &headers, &body);
        set_execution_header(&mut response, execution_id);
        return Ok(response);
    };

    // Registered before publishing so a fast worker's reply cannot arrive unobserved.
    let mut waiter = state.replies.register(execution_id).map_err(|error| {
        tracing::warn!(execution = %execution_id, %error, "sync webhook refused: replies cannot be received");
        fail(ApiError::Unavailable(Unavailable::Replies))
    })?;
    let _waiting = state.metrics.hold_sync_caller();
    let answered = tokio::time::timeout_at(answer_by, async {
        publish(state, execution).await?;
        drop(memory);
        waiter.wait().await.ok_or_else(|| {
            tracing::warn!(execution = %execution_id, "the reply channel closed while a sync caller waited");
            ApiError::Unavailable(Unavailable::Replies)
        })
    })
    .await;
    match answered {
        Ok(Ok(reply)) => {
            let mut response = answer::build(reply.status_code, &reply.headers, &reply.body);
            set_execution_header(&mut response, execution_id);
            Ok(response)
        }
        Ok(Err(error)) => Err(fail(error)),
        Err(_) => {
            state.metrics.sync_timeout();
            Err(fail(ApiError::Timeout))
        }
    }
}

async fn publish(state: &AppState, execution: ExecutionRequest) -> Result<(), ApiError> {
    let started = Instant::now();
    let execution_id = execution.execution_id;
    let result = state.producer.publish(execution).await;
    state.metrics.observe_publish(started.elapsed());
    result.map_err(|error| {
        tracing::warn!(execution = %execution_id, %error, "the execution could not be queued");
        match error {
            QueueError::Full => ApiError::Unavailable(Unavailable::QueueFull),
            _ => ApiError::Unavailable(Unavailable::Queue),
        }
    })
}

/// Whether the calling client (through trusted proxies) is inside `allowed`.
fn caller_allowed(request: &HttpRequest, allowed: &[ipnet::IpNet], trusted: &[ipnet::IpNet]) -> bool {
    let Some(peer) = request.peer_addr() else { return false };
    let forwarded = request.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok());
    client_ip::client_ip(peer.ip(), forwarded, trusted).is_some_and(|ip| client_ip::is_within(ip, allowed))
}

fn set_execution_header(response: &mut HttpResponse, id: Uuid) {
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static(EXECUTION_ID_HEADER), value);
    }
}
