//! `GET /api/workflows/{key}/executions` (newest first, cursor-paged, filtered by status),
//! `GET /api/executions/{id}` (with jobs) and `POST /api/executions/{id}/replay` (SPEC §8).

use actix_web::{web, HttpResponse};
use chrono::Utc;
use hookflow_shared::execution::ExecutionRequest;
use hookflow_shared::model::{ExecutionStatus, Mode};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Admin;
use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/workflows/{key}/executions", web::get().to(list))
        .route("/api/executions/{id}", web::get().to(get))
        .route("/api/executions/{id}/replay", web::post().to(replay));
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    _: Admin,
    key: web::Path<String>,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(ExecutionStatus::from_name(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status must be one of queued, started, resolved, failed, error, aborted, canceled; got {name:?}"
            ))
        })?),
    };
    let limit = match query.limit.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit must be between 1 and {MAX_LIMIT}; got {text:?}"
                )))
            }
        },
    };
    let cursor =
        match query.cursor.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(Uuid::parse_str(text).map_err(|_| {
                ApiError::BadRequest(format!("cursor {text:?} is not a cursor from nextCursor"))
            })?),
        };
    let (data, next) = state.storage.list_executions(&key, status, limit, cursor).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data, "nextCursor": next })))
}

async fn get(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::NotFound(format!("no execution has the id {:?}", id.as_str()));
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let record = state.storage.get_execution(uuid).await?.ok_or_else(missing)?;
    Ok(HttpResponse::Ok().json(record))
}

/// Which definition a replay runs.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ReplayVersion {
    /// The version the original execution ran (the default).
    #[default]
    Original,
    /// The workflow's current version.
    Latest,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    version: ReplayVersion,
}

/// Runs a recorded execution's context again as a new async execution (`replayOf` set), with
/// no idempotency check: replaying is how an operator runs a callback again on purpose.
async fn replay(
    _: Admin,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // No body means the defaults; a body must say something valid.
    let asked: ReplayRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!("the body must be {{\"version\": \"original\" | \"latest\"}}: {e}"))
        })?
    };
    let missing = || ApiError::NotFound(format!("no execution has the id {:?}", id.as_str()));
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let original = state.storage.get_execution(uuid).await?.ok_or_else(missing)?;
    let version = match asked.version {
        ReplayVersion::Original => original.version,
        ReplayVersion::Latest => {
            let live = state.catalog.get(&original.workflow_key).ok_or_else(|| {
                ApiError::NotFound(format!("workflow {:?} no longer exists", original.workflow_key))
            })?;
            live.version
        }
    };
    let execution_id = Uuid::now_v7();
    let execution = ExecutionRequest {
        execution_id,
        workflow_key: original.workflow_key,
        version,
        mode: Mode::Async,
        context: original.context,
        reply_to: None,
        deadline: None,
        created_at: Utc::now(),
        idempotency_key: None,
        replay_of: Some(original.id),
        trace: None,
    };
    crate::routes::webhook::publish(&state, execution).await?;
    tracing::info!(execution = %execution_id, replay_of = %uuid, version, "execution replayed");
    Ok(HttpResponse::Accepted().json(json!({ "executionId": execution_id })))
}
