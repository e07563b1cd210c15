//! Gateway webhooks. `POST /v1/sms/inbound` takes a citizen's reply
//! (`{"from", "text", "at"}`) into the reply pipeline. The gateway's receive time is
//! required, not defaulted: replies are idempotent on (number, time, text), so a webhook
//! the gateway retries is taken once only if it carries the same time each try.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Principal, Role};
use super::error::ApiError;
use crate::intake::ndjson::{FieldError, Fields, parse_object};
use crate::pipeline::InboundOutcome;

/// The longest reply taken: ten concatenated parts, which no answer to an offer needs.
pub const MAX_REPLY_CHARS: usize = 1600;

pub async fn inbound(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&Role::Gateway, "deliver SMS replies")?;
    let body = body?;
    let bad = |problem: String| ApiError::bad_request("invalid-reply", problem);
    let text = std::str::from_utf8(&body).map_err(|_| bad("the body is not valid UTF-8".into()))?;
    let map = parse_object(text.trim()).map_err(|e| bad(e.to_string()))?;
    let f = Fields::new(&map);
    let read = || -> Result<(String, String, i64), FieldError> {
        f.only(&["from", "text", "at"])?;
        let from = f.str("from")?;
        if from.chars().count() > 32 {
            return Err(FieldError::Invalid { field: "from".into(), problem: "is over 32 characters".into() });
        }
        let text = f.str("text")?;
        if text.chars().count() > MAX_REPLY_CHARS {
            return Err(FieldError::Invalid {
                field: "text".into(),
                problem: format!("is over {MAX_REPLY_CHARS} characters"),
            });
        }
        Ok((from.to_owned(), text.to_owned(), f.time("at")?))
    };
    let (from, text, at) = read().map_err(|e| bad(e.to_string()))?;
    let outcome = state.run(move |p| p.on_inbound(&from, &text, at)).await?;
    let status = match outcome {
        InboundOutcome::Matched => "matched",
        InboundOutcome::Duplicate => "duplicate",
        InboundOutcome::Unmatched => "unmatched",
        InboundOutcome::Ambiguous => "ambiguous",
    };
    Ok(Json(json!({ "status": status })))
}
