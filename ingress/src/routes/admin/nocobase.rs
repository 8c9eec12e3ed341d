//! `POST /api/workflows/import[?lenient=true]`: a NocoBase webhook workflow (the answer of
//! NocoBase's `workflows:get?appends[]=nodes`, or its `data`) saved as a new Hookflow workflow,
//! through the same path as `POST /api/workflows`. The way back is
//! `GET /api/workflows/{key}?format=nocobase`.

use actix_web::{guard, web, HttpRequest, HttpResponse};
use hookflow_shared::nocobase;
use serde::Deserialize;
use serde_json::json;

use super::workflows::{body_value, create_new};
use super::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::to_json;

/// Registered before `/api/workflows/{key}`, and for POST only: other methods fall through to
/// that resource, so a workflow whose key is `import` stays readable and replaceable.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/workflows/import").guard(guard::Post()).route(web::post().to(import)));
}

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    lenient: bool,
}

async fn import(
    _: Admin,
    request: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let value = body_value(&request, &body)?;
    let imported = match query.lenient {
        true => nocobase::import_lenient(&value),
        false => nocobase::import(&value),
    }
    .map_err(ApiError::ImportInvalid)?;
    let stored = create_new(&state, imported.definition).await?;
    let mut answer = to_json(&stored, &state.settings.public_url);
    answer["import"] = json!({ "warnings": imported.warnings, "skipped": imported.skipped });
    Ok(HttpResponse::Created().json(answer))
}
