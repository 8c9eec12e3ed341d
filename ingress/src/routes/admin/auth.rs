//! The `Admin` extractor: a handler that takes it runs only for `Authorization: Bearer <token>`.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request carried the admin token.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = request.app_data::<web::Data<AppState>>().map(|s| s.settings.admin_token.as_bytes());
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let ok = match (expected, given) {
            (Some(expected), Some(given)) if !expected.is_empty() => {
                bool::from(given.as_bytes().ct_eq(expected))
            }
            _ => false,
        };
        ready(if ok {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized { challenge: "Bearer realm=\"hookflow\"" })
        })
    }
}
