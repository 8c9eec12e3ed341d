//! `POST /api/webhook:trigger/{key}` (SPEC §4). Checks in the contract's order, builds
//! `$context`, queues the execution, then answers: async at once with the trigger's response,
//! sync with the workflow's reply (or 408 when it does not come in time). Reads no database.

mod answer;
mod auth;
pub mod idempotency;
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
use hookflow_shared::reply::{Answer, Reply, ReplyWaiter};
use hookflow_shared::telemetry;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{ApiError, Unavailable};
use crate::state::AppState;

/// How long a reply the worker has decided to send may take to arrive once the caller's time
/// is up (it was sent before the deadline; this covers its trip through the reply bus).
pub(crate) const REPLY_IN_FLIGHT: Duration = Duration::from_secs(5);

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
pub(crate) struct Failure {
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
    // A trace per call to a workflow, when traces are on; its context travels with the
    // execution to the worker.
    let span = match (&workflow, telemetry::enabled()) {
        (Some(_), true) => tracing::info_span!(
            "webhook",
            workflow = label,
            mode,
            execution_id = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
        ),
        _ => tracing::Span::none(),
    };
    let handled = handle(&request, payload, &state, workflow.as_ref()).instrument(span.clone()).await;
    let response = match handled {
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
    span.record("http.status_code", response.status().as_u16());
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
    // Adyen and T-Bank sign fields inside a JSON body: it is read as JSON whatever type it
    // declares, so the fields checked are the fields the workflow sees.
    let kind = match &workflow.signature {
        SignatureCheck::On(verifier) if verifier.signs_json_fields() => BodyKind::Json,
        _ => BodyKind::of(request::content_type(request)),
    };
    // Reserved before the signature check, which parses the body for those two presets.
    memory.grow(body::parse_cost(&kind, &raw))?;
    // On the bytes as sent, before the body is parsed for the workflow.
    match &workflow.signature {
        SignatureCheck::Off => {}
        SignatureCheck::On(verifier) => {
            verifier.verify(request.headers(), &raw, Utc::now().timestamp()).map_err(ApiError::Signature)?;
        }
        SignatureCheck::Unusable => return Err(ApiError::Unavailable(Unavailable::SignatureSecrets).into()),
    }
    let parsed = request::parse_body(&kind, raw.clone()).await?;
    request::check_body(&parsed.body)?;
    let unstored = match &workflow.signature {
        SignatureCheck::On(verifier) => verifier.signature_headers(),
        _ => &[],
    };
    let parsing = &definition.trigger.request;
    let raw_body = (!parsed.structured || parsing.raw_body).then_some(&raw[..]);
    let context =
        request::build_context(request, parsed.body, raw_body, &workflow.compiled.mappings, unstored);
    drop(raw);

    let execution_id = Uuid::now_v7();
    tracing::Span::current().record("execution_id", tracing::field::display(execution_id));
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
    // A key names the call: a duplicate of a call already taken is answered here, unrun.
    let key = workflow.idempotency.as_ref().and_then(|rule| rule.key_of(&context).map(|key| (rule, key)));
    let owned = match &key {
        None => None,
        Some((rule, key)) => {
            let latest =
                now + chrono::Duration::from_std(wait.unwrap_or(settings.sync_timeout)).unwrap_or_default();
            let call = idempotency::KeyedCall {
                rule,
                key,
                execution_id,
                mode,
                answer_by: latest,
                context: &context,
            };
            let claimed = idempotency::claim(state, workflow, call).await;
            match claimed {
                Ok(idempotency::Decision::Run(owned)) => Some(owned),
                Ok(idempotency::Decision::Answer(response)) => {
                    state.metrics.duplicate(&definition.key);
                    return Ok(response);
                }
                Err(failure) => {
                    if matches!(failure.error, ApiError::DuplicateInProgress) {
                        state.metrics.duplicate(&definition.key);
                    }
                    return Err(failure);
                }
            }
        }
    };
    let execution = ExecutionRequest {
        execution_id,
        workflow_key: definition.key.clone(),
        version: workflow.version,
        mode,
        context,
        reply_to: wait.map(|_| state.replies.address().to_owned()),
        deadline: wait.and_then(|w| chrono::Duration::from_std(w).ok()).map(|w| now + w),
        created_at: now,
        idempotency_key: key.map(|(_, key)| key),
        replay_of: None,
        trace: telemetry::current_context(),
    };

    let Some(answer_by) = answer_by else {
        // Rendered before publishing, while the context is at hand; the answer says only that
        // the execution is queued, so it is sent once the queue has confirmed it.
        let (headers, body) = answer::render_trigger_response(workflow, &execution.context);
        if let Err(unqueued) = publish(state, execution).await {
            // A message the broker may hold still runs: its key then stays pending, for the
            // worker's `started` mark and the record to settle, so a retry cannot run it twice.
            if !unqueued.maybe_queued {
                idempotency::settle(state, owned, idempotency::Settled::Failed).await;
            }
            return Err(fail(unqueued.error));
        }
        drop(memory);
        idempotency::settle(state, owned, idempotency::Settled::Queued).await;
        let mut response = answer::build(definition.trigger.response.status_code, &headers, &body);
        set_execution_header(&mut response, execution_id);
        return Ok(response);
    };

    // Registered before publishing so a fast worker's reply cannot arrive unobserved.
    let mut waiter = match state.replies.register(execution_id) {
        Ok(waiter) => waiter,
        Err(error) => {
            tracing::warn!(execution = %execution_id, %error, "sync webhook refused: replies cannot be received");
            idempotency::settle(state, owned, idempotency::Settled::Failed).await;
            return Err(fail(ApiError::Unavailable(Unavailable::Replies)));
        }
    };
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
    let reply = match answered {
        Ok(Ok(reply)) => reply,
        // Not queued, or the reply bus was lost while waiting: the caller is answered 503.
        // Whether the execution may still run and reply is decided first, so the key is given
        // up only when no reply can follow.
        Ok(Err(error)) => match settle_unanswered(state, execution_id, &mut waiter).await {
            Unanswered::Replied(reply) => reply,
            Unanswered::NoReply => {
                idempotency::settle(state, owned, idempotency::Settled::Failed).await;
                return Err(fail(error));
            }
            Unanswered::Unknown => return Err(fail(error)),
        },
        // Time is up, unless the worker already took the right to answer: one of the two
        // decides, once, so that 408 ⇔ an `aborted` record.
        Err(_) => match settle_unanswered(state, execution_id, &mut waiter).await {
            Unanswered::Replied(reply) => reply,
            Unanswered::NoReply => {
                state.metrics.sync_timeout();
                idempotency::settle(state, owned, idempotency::Settled::Failed).await;
                return Err(fail(ApiError::Timeout));
            }
            // The worker answered but its reply cannot be had: the record decides what the
            // key holds once the answer is overdue.
            Unanswered::Unknown => {
                tracing::error!(execution = %execution_id, "the worker answered, but its reply cannot be read");
                return Err(fail(ApiError::Unavailable(Unavailable::Replies)));
            }
        },
    };
    state.replies.forget(execution_id);
    // Stored before the caller has it, so a retry after this answer gets the same one.
    idempotency::settle(state, owned, idempotency::Settled::Replied(&reply)).await;
    let mut response = answer::build(reply.status_code, &reply.headers, &reply.body);
    set_execution_header(&mut response, execution_id);
    Ok(response)
}

/// How a sync call ended that got no reply in the normal way.
enum Unanswered {
    /// The worker had decided to answer; its reply, arrived late or read from its decision.
    Replied(Reply),
    /// No reply can follow: the ingress took the answer (or no decision can be made, in which
    /// case the worker cannot make one either and records the run aborted).
    NoReply,
    /// The worker decided to answer, but its reply cannot be read.
    Unknown,
}

/// Takes the answer away from the worker, or finds the reply it decided to send.
async fn settle_unanswered(state: &AppState, execution_id: Uuid, waiter: &mut ReplyWaiter) -> Unanswered {
    let keep_until = Utc::now() + chrono::Duration::seconds(60);
    match state.replies.decide(execution_id, &Answer::Timeout, keep_until).await {
        Ok(true) => Unanswered::NoReply,
        Err(error) => {
            tracing::warn!(%error, execution = %execution_id, "answering without a decision");
            Unanswered::NoReply
        }
        Ok(false) => {
            if let Ok(Some(reply)) = tokio::time::timeout(REPLY_IN_FLIGHT, waiter.wait()).await {
                return Unanswered::Replied(reply);
            }
            match state.replies.decision(execution_id).await {
                Ok(Some(Answer::Reply(reply))) => Unanswered::Replied(reply),
                _ => Unanswered::Unknown,
            }
        }
    }
}

/// An execution that could not be queued: the 503 to answer, and whether the queue may have
/// it after all (its confirm was lost), so that it may still run.
pub(crate) struct Unqueued {
    pub error: ApiError,
    pub maybe_queued: bool,
}

impl From<Unqueued> for ApiError {
    fn from(unqueued: Unqueued) -> Self {
        unqueued.error
    }
}

/// Queues an execution, mapping queue failures to their 503s.
pub(crate) async fn publish(state: &AppState, execution: ExecutionRequest) -> Result<(), Unqueued> {
    let started = Instant::now();
    let execution_id = execution.execution_id;
    let result = state.producer.publish(execution).await;
    state.metrics.observe_publish(started.elapsed());
    result.map_err(|error| {
        tracing::warn!(execution = %execution_id, %error, "the execution could not be queued");
        let maybe_queued = matches!(error, QueueError::Uncertain(_));
        let error = match error {
            QueueError::Full => ApiError::Unavailable(Unavailable::QueueFull),
            _ => ApiError::Unavailable(Unavailable::Queue),
        };
        Unqueued { error, maybe_queued }
    })
}

/// Whether the calling client (through trusted proxies) is inside `allowed`.
fn caller_allowed(request: &HttpRequest, allowed: &[ipnet::IpNet], trusted: &[ipnet::IpNet]) -> bool {
    let Some(peer) = request.peer_addr() else { return false };
    let mut forwarded = Vec::new();
    for value in request.headers().get_all("x-forwarded-for") {
        // Unreadable bytes could hide the hop that decides (a proxy appends to the caller's
        // header): such a call cannot be placed, so it is not let in.
        let Ok(text) = value.to_str() else { return false };
        forwarded.push(text);
    }
    client_ip::client_ip(peer.ip(), forwarded, trusted).is_some_and(|ip| client_ip::is_within(ip, allowed))
}

pub(crate) fn set_execution_header(response: &mut HttpResponse, id: Uuid) {
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static(EXECUTION_ID_HEADER), value);
    }
}
