//! `GET /api/workflows/{key}/executions` (newest first, cursor-paged) and
//! `GET /api/executions/{id}` (with jobs).

use actix_web::{web, HttpResponse};
use hookflow_shared::model::ExecutionStatus;
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
        .route("/api/executions/{id}", web::get().to(get));
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
