//! `POST /api/webhook/parse`: lists the paths of an example query string or JSON body, like
//! NocoBase's "parse" button, to help fill in `request.query` / `request.body` mappings.

use actix_web::{web, HttpResponse};
use hookflow_shared::path::list_paths;
use hookflow_shared::qs;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Admin;
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/webhook/parse", web::post().to(parse));
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Query,
    Body,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParseRequest {
    kind: Kind,
    example: String,
}

async fn parse(_: Admin, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request: ParseRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("expected {{\"kind\": \"query\"|\"body\", \"example\": \"…\"}}: {e}"))
    })?;
    let parsed = match request.kind {
        Kind::Query => {
            let example = request.example.trim();
            // A whole URL or just its query string.
            let query = match example.split_once('?') {
                Some((_, query)) => query,
                None if example.contains("://") => "",
                None => example,
            };
            let query = query.split('#').next().unwrap_or_default();
            qs::parse(query)
        }
        Kind::Body => serde_json::from_str::<Value>(&request.example)
            .map_err(|e| ApiError::BadRequest(format!("example is not valid JSON: {e}")))?,
    };
    let paths: Vec<Value> = list_paths(&parsed).into_iter().map(|key| json!({ "key": key })).collect();
    Ok(HttpResponse::Ok().json(json!({ "paths": paths })))
}
