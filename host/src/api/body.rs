//! Reading a JSON object body with intake's own parser, so HTTP and files refuse the same
//! input with the same words.

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::intake::ndjson::parse_object;

/// The body as one JSON object; anything else is a 400 with `code` that says what is wrong.
pub fn object(body: &[u8], code: &'static str) -> Result<Map<String, Value>, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request(code, "the body is not valid UTF-8"))?.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request(code, "the body is empty: expected a JSON object"));
    }
    parse_object(text).map_err(|e| ApiError::bad_request(code, e.to_string()))
}
