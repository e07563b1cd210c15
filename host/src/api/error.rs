//! Every error the API gives is JSON, `{"error": code, "message": text}`, with a status that
//! says whose mistake it was. Messages name the problem (a field, a limit, a role) and never
//! quote personal data; a server fault is logged (redacted) and answered without detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable word for the kind of problem, for programs (`invalid-event`, `forbidden`, ...).
    #[schema(example = "invalid-event")]
    pub error: &'static str,
    /// What is wrong, for people: names the field, limit or role.
    #[schema(example = "missing field `kind`")]
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// Messages quote the caller's input (a path, a field name, a value) to name the
    /// problem: anything IIN- or phone-shaped in them is masked here, once for every route.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: crate::redact::redact(&message.into()) }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// A query parameter the route does not take (named, cut short: it is the caller's text).
    pub fn unknown_parameter(key: &str, known: &str) -> Self {
        let key: String = key.chars().take(32).collect();
        Self::bad_request("invalid-query", format!("unknown parameter `{key}` (known: {known})"))
    }

    /// A fault on our side: the detail goes to the log, redacted, not to the caller.
    pub fn internal(e: &anyhow::Error) -> Self {
        tracing::error!("request failed: {}", crate::redact::redact(&format!("{e:#}")));
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; the server log has the detail")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.code, message: self.message })).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(&e)
    }
}

/// A body the extractor refused (too large, unreadable) as a JSON error.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "too-large", "the request body is over the configured limit")
        } else {
            ApiError::new(status, "bad-body", "the request body could not be read")
        }
    }
}
