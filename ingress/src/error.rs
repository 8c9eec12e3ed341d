//! The one place where failures become HTTP answers: `{"error": {"code", "message"}}` with the
//! right status. Internal causes are logged here and never sent to clients.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use hookflow_shared::model::Problem;
use hookflow_shared::nocobase::ImportProblem;
use hookflow_shared::signature::SignatureError;
use hookflow_shared::storage::StorageError;
use serde_json::json;

/// Every error an HTTP handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("only POST is allowed here")]
    MethodNotAllowed,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body has too many values to parse within the memory limit")]
    TooComplex,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("credentials are missing or wrong")]
    Unauthorized { challenge: &'static str },
    #[error("{0}")]
    Signature(SignatureError),
    #[error("calls from this address are not allowed")]
    IpNotAllowed,
    #[error("a call with this idempotency key is still being handled; retry later")]
    DuplicateInProgress,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the workflow definition has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    /// A NocoBase workflow that cannot be imported: problems name NocoBase's nodes.
    #[error("the NocoBase workflow cannot be imported: {} problem(s)", .0.len())]
    ImportInvalid(Vec<ImportProblem>),
    #[error("{}", .0.message())]
    Unavailable(Unavailable),
    #[error("the workflow did not answer in time")]
    Timeout,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Why a request could not be taken now. Each has a fixed public message; the cause, which
/// may name internal hosts or libraries, is logged where it happens, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Too many requests in flight, or too much body memory in use.
    Overloaded,
    /// The queue could not take the execution (broker or journal down).
    Queue,
    /// The in-memory queue had no room in time.
    QueueFull,
    /// Sync answers cannot be delivered now (reply bus down).
    Replies,
    /// The workflow's signature secrets cannot be read by this process.
    SignatureSecrets,
    /// Idempotency keys cannot be claimed now (database down).
    Idempotency,
}

impl Unavailable {
    fn code(self) -> &'static str {
        match self {
            Self::Overloaded => "overloaded",
            Self::Queue => "queue_unavailable",
            Self::QueueFull => "queue_full",
            Self::Replies => "replies_unavailable",
            Self::SignatureSecrets => "signature_unavailable",
            Self::Idempotency => "idempotency_unavailable",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Overloaded => "the service is busy; retry later",
            Self::Queue => "the execution could not be queued; retry later",
            Self::QueueFull => "the execution queue is full; retry later",
            Self::Replies => "sync answers cannot be delivered right now; retry later",
            Self::SignatureSecrets => "signatures cannot be checked right now; retry later",
            Self::Idempotency => "duplicates cannot be recognised right now; retry later",
        }
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::TooComplex => "payload_too_complex",
            Self::BodyTimeout => "body_timeout",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Signature(why) => why.code(),
            Self::IpNotAllowed => "ip_not_allowed",
            Self::DuplicateInProgress => "duplicate_in_progress",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            // One code for every refused definition, whatever it was written in.
            Self::Invalid(_) | Self::ImportInvalid(_) => "validation_failed",
            Self::Unavailable(why) => why.code(),
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal",
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict(key) => Self::Conflict(format!(
                "workflow {key:?} was changed by another request at the same time; retry"
            )),
            other => Self::Internal(other.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } | Self::TooComplex => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthorized { .. } | Self::Signature(_) => StatusCode::UNAUTHORIZED,
            Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) | Self::DuplicateInProgress => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::ImportInvalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        match self {
            Self::Invalid(problems) => body["error"]["problems"] = json!(problems),
            Self::ImportInvalid(problems) => body["error"]["problems"] = json!(problems),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::MethodNotAllowed => {
                response.insert_header((header::ALLOW, "POST"));
            }
            Self::Unauthorized { challenge } => {
                response.insert_header((header::WWW_AUTHENTICATE, *challenge));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::DuplicateInProgress => {
                response.insert_header((header::RETRY_AFTER, "1"));
                response.insert_header(("x-hookflow-duplicate", "true"));
            }
            // The rest of a slow body is not worth reading: the connection is closed.
            Self::BodyTimeout => {
                response.force_close();
            }
            _ => {}
        }
        response.json(body)
    }
}
