//! Reading a JSON object body with intake's own parser, so HTTP and files refuse the same
//! input with the same words.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::intake::ndjson::{FieldError, parse_object};
use crate::model::Timestamp;

/// A sender's time must not be in the future, nor (with `max_age`) too far in the past.
pub fn check_time(field: &str, t: Timestamp, now: Timestamp, max_age: Option<i64>) -> Result<(), FieldError> {
    // Clocks drift, but an event or a reply from next week is a sender's bug, and a
    // decision taken on it could not be undone.
    let problem = if t > now + crate::model::CLOCK_DRIFT_SECONDS {
        "is in the future".to_owned()
    } else if let Some(age) = max_age.filter(|age| t < now - age) {
        format!("is more than {} days ago", age / 86_400)
    } else {
        return Ok(());
    };
    Err(FieldError::Invalid { field: field.into(), problem })
}

/// The request's media type, without parameters, lower-cased.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// A 415 naming what the route takes and what it got.
pub fn unsupported(expected: &str, got: Option<&str>) -> ApiError {
    let got = got.map(|t| crate::redact::redact(&t.chars().take(64).collect::<String>()));
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        format!("send `Content-Type: {expected}` (got {})", got.as_deref().unwrap_or("no Content-Type")),
    )
}

/// A JSON object body, declared as JSON; anything else is a 415, or a 400 with `code`
/// that says what is wrong.
pub fn json_object(headers: &HeaderMap, body: &[u8], code: &'static str) -> Result<Map<String, Value>, ApiError> {
    match media_type(headers) {
        Some(t) if t == "application/json" || t.ends_with("+json") => object(body, code),
        other => Err(unsupported("application/json", other.as_deref())),
    }
}

/// The body as one JSON object; anything else is a 400 with `code` that says what is wrong.
pub fn object(body: &[u8], code: &'static str) -> Result<Map<String, Value>, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request(code, "the body is not valid UTF-8"))?.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request(code, "the body is empty: expected a JSON object"));
    }
    parse_object(text).map_err(|e| ApiError::bad_request(code, e.to_string()))
}
