//! `/api/workflows*`: create, list, read (`?format=nocobase`: NocoBase's shape), replace (new
//! version), patch, delete, versions. Bodies are JSON, or YAML with a YAML content type.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use hookflow_shared::model::{decode_workflow, Problem, WorkflowDefinition};
use hookflow_shared::nocobase;
use hookflow_shared::storage::{SaveOutcome, StoredWorkflow};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::{self, to_json};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/workflows").route(web::post().to(create)).route(web::get().to(list)))
        .service(
            web::resource("/api/workflows/{key}")
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch))
                .route(web::delete().to(delete)),
        )
        .route("/api/workflows/{key}/versions", web::get().to(versions));
}

/// Parses a request body as JSON, or YAML when the content type says so.
pub(super) fn body_value(request: &HttpRequest, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.contains("yaml") {
        serde_yaml::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed YAML body: {e}")))
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))
    }
}

fn decode(value: Value) -> Result<WorkflowDefinition, ApiError> {
    decode_workflow(value).map_err(ApiError::Invalid)
}

fn not_found(key: &str) -> ApiError {
    ApiError::NotFound(format!("no workflow has the key {key:?}"))
}

async fn create(
    _: Admin,
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let definition = decode(body_value(&request, &body)?)?;
    let stored = create_new(&state, definition).await?;
    Ok(HttpResponse::Created().json(to_json(&stored, &state.settings.public_url)))
}

/// Saves a workflow whose key must be new: creating never replaces.
pub(super) async fn create_new(
    state: &AppState,
    definition: WorkflowDefinition,
) -> Result<StoredWorkflow, ApiError> {
    if !definition.key.is_empty() && state.storage.get_workflow(&definition.key).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a workflow with the key {:?} exists; PUT /api/workflows/{} makes a new version",
            definition.key, definition.key
        )));
    }
    let (stored, _) = workflows::save(state, definition).await?;
    Ok(stored)
}

async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let all = state.storage.list_workflows().await?;
    let data: Vec<Value> = all.iter().map(|w| to_json(w, &state.settings.public_url)).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

#[derive(Deserialize)]
struct GetQuery {
    format: Option<String>,
}

async fn get(
    _: Admin,
    key: web::Path<String>,
    query: web::Query<GetQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let as_nocobase = match query.format.as_deref() {
        None => false,
        Some("nocobase") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {other:?}; the one format is \"nocobase\""
            )))
        }
    };
    let stored = state.storage.get_workflow(&key).await?.ok_or_else(|| not_found(&key))?;
    if as_nocobase {
        // Secrets stay write-only in every shape.
        return Ok(HttpResponse::Ok().json(nocobase::export(&stored.definition.masked())));
    }
    Ok(HttpResponse::Ok().json(to_json(&stored, &state.settings.public_url)))
}

async fn replace(
    _: Admin,
    request: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut value = body_value(&request, &body)?;
    if let Value::Object(map) = &mut value {
        match map.get("key") {
            None | Some(Value::Null) => {
                map.insert("key".into(), Value::String(key.to_string()));
            }
            Some(Value::String(given)) if *given == *key => {}
            Some(_) => {
                return Err(ApiError::Invalid(vec![Problem::new(
                    "key",
                    format!("must be {:?}, the key in the URL", *key),
                )]))
            }
        }
    }
    let definition = decode(value)?;
    let (stored, outcome) = workflows::save(&state, definition).await?;
    let body = to_json(&stored, &state.settings.public_url);
    Ok(match outcome {
        SaveOutcome::Created => HttpResponse::Created().json(body),
        SaveOutcome::Updated | SaveOutcome::Unchanged => HttpResponse::Ok().json(body),
    })
}

/// `PATCH` changes only `enabled` and `title`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    enabled: Option<bool>,
    title: Option<String>,
}

async fn patch(
    _: Admin,
    key: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let patch: Patch = serde_json::from_slice(&body).map_err(|e| {
        ApiError::Invalid(vec![Problem::new(
            "",
            format!("PATCH takes {{\"enabled\": bool, \"title\": string}}: {e}"),
        )])
    })?;
    let stored = state.storage.get_workflow(&key).await?.ok_or_else(|| not_found(&key))?;
    let mut definition = stored.definition;
    if let Some(enabled) = patch.enabled {
        definition.enabled = enabled;
    }
    if let Some(title) = patch.title {
        definition.title = title;
    }
    let (stored, _) = workflows::save(&state, definition).await?;
    Ok(HttpResponse::Ok().json(to_json(&stored, &state.settings.public_url)))
}

async fn delete(
    _: Admin,
    key: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.storage.delete_workflow(&key).await? {
        return Err(not_found(&key));
    }
    state.catalog.remove(&key);
    workflows::announce(&state, &key).await;
    Ok(HttpResponse::NoContent().finish())
}

async fn versions(
    _: Admin,
    key: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = state.storage.list_versions(&key).await?;
    if all.is_empty() {
        return Err(not_found(&key));
    }
    let data: Vec<Value> = all
        .iter()
        .map(|v| {
            let mut value = to_json(v, &state.settings.public_url);
            if let Value::Object(map) = &mut value {
                map.remove("updatedAt");
            }
            value
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}
