//! Gateway webhooks. `POST /v1/sms/inbound` takes a citizen's reply
//! (`{"from", "text", "at"}`) into the reply pipeline. The gateway's receive time is
//! required, not defaulted: replies are idempotent on (number, time, text), so a webhook
//! the gateway retries is taken once only if it carries the same time each try.
//! `POST /v1/sms/status` takes a delivery receipt (`{"message_id", "status", "at"}`),
//! matched by the id the gateway gave the message when it took it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Principal, Role};
use super::body::check_time;
use super::error::{ApiError, ErrorBody};
use crate::intake::ndjson::{FieldError, Fields};
use crate::pipeline::{InboundOutcome, ReceiptOutcome};
use crate::store::DeliveryStatus;

/// The longest reply taken: ten concatenated parts, which no answer to an offer needs.
pub const MAX_REPLY_CHARS: usize = 1600;

/// The oldest reply taken: a gateway may hold messages while the host is down, but a
/// week-old answer belongs to an offer whose window has closed.
pub const MAX_REPLY_AGE_SECONDS: i64 = 7 * 86_400;

/// A citizen's SMS as the gateway received it.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema for the document; the handler reads the fields itself")]
pub struct InboundRequest {
    /// The sender's number, as the gateway gives it (at most 32 characters).
    #[schema(example = "+77011234567")]
    from: String,
    /// The message text (at most 1600 characters).
    #[schema(example = "1 ИӘ")]
    text: String,
    /// When the gateway received it (RFC 3339): part of the idempotency key.
    #[schema(example = "2026-12-01T10:02:00+05:00")]
    at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InboundStatus {
    /// Matched to an open case and handed to its service.
    Matched,
    /// The same message was already taken.
    Duplicate,
    /// No open case for the number or the code: stored, and answered with a help text.
    Unmatched,
    /// Several open offers and no code to choose: stored, and answered with a help text.
    Ambiguous,
}

#[derive(Serialize, ToSchema)]
pub struct InboundResult {
    status: InboundStatus,
}

/// `POST /v1/sms/inbound`
#[utoipa::path(
    post,
    path = "/v1/sms/inbound",
    tag = "sms",
    request_body = InboundRequest,
    responses(
        (status = 200, description = "Taken; the status says how it was matched", body = InboundResult),
        (status = 400, description = "The reply is invalid; the message names the field", body = ErrorBody),
        (status = 403, description = "The token is not a gateway's", body = ErrorBody),
    ),
)]
pub async fn inbound(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InboundResult>, ApiError> {
    caller.require(&Role::Gateway, "deliver SMS replies")?;
    let body = body?;
    let map = super::body::json_object(&headers, &body, "invalid-reply")?;
    let f = Fields::new(&map);
    let now = state.now();
    let read = || -> Result<(String, String, i64), FieldError> {
        f.only(&["from", "text", "at"])?;
        let from = f.str("from")?;
        if from.chars().count() > 32 {
            return Err(FieldError::Invalid { field: "from".into(), problem: "is over 32 characters".into() });
        }
        // Whatever is stored as a sender must be a number (foreign or fixed ones are kept,
        // and answered with nothing): an IIN or a name in `from` is refused.
        if matches!(crate::gate::phone::normalise(from), Err(crate::gate::phone::PhoneError::Unparseable)) {
            return Err(FieldError::Invalid { field: "from".into(), problem: "is not a phone number".into() });
        }
        let text = f.str("text")?;
        if text.chars().count() > MAX_REPLY_CHARS {
            return Err(FieldError::Invalid {
                field: "text".into(),
                problem: format!("is over {MAX_REPLY_CHARS} characters"),
            });
        }
        let at = f.time("at")?;
        check_time("at", at, now, Some(MAX_REPLY_AGE_SECONDS))?;
        Ok((from.to_owned(), text.to_owned(), at))
    };
    let (from, text, at) = read().map_err(|e| ApiError::bad_request("invalid-reply", e.to_string()))?;
    let outcome = state.run(move |p| p.on_inbound(&from, &text, at, now)).await?;
    let status = match outcome {
        InboundOutcome::Matched => InboundStatus::Matched,
        InboundOutcome::Duplicate => InboundStatus::Duplicate,
        InboundOutcome::Unmatched => InboundStatus::Unmatched,
        InboundOutcome::Ambiguous => InboundStatus::Ambiguous,
    };
    Ok(Json(InboundResult { status }))
}

/// A delivery receipt as the gateway reports it.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema for the document; the handler reads the fields itself")]
pub struct StatusRequest {
    /// The id the gateway returned when it took the message (at most 128 characters).
    #[schema(example = "sim-42")]
    message_id: String,
    status: DeliveryStatus,
    /// When the network says it happened (RFC 3339).
    #[schema(example = "2026-12-01T10:01:00+05:00")]
    at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusOutcome {
    Recorded,
    /// This receipt was already taken.
    Duplicate,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResult {
    status: StatusOutcome,
}

/// `POST /v1/sms/status`
#[utoipa::path(
    post,
    path = "/v1/sms/status",
    tag = "sms",
    request_body = StatusRequest,
    responses(
        (status = 200, description = "Recorded, or already recorded", body = StatusResult),
        (status = 400, description = "The receipt is invalid (or dated before the message was sent); the message names the field", body = ErrorBody),
        (status = 403, description = "The token is not a gateway's", body = ErrorBody),
        (status = 404, description = "No sent message has that id", body = ErrorBody),
        (status = 409, description = "The message already has a different final status", body = ErrorBody),
    ),
)]
pub async fn delivery_status(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StatusResult>, ApiError> {
    caller.require(&Role::Gateway, "deliver SMS receipts")?;
    let body = body?;
    let map = super::body::json_object(&headers, &body, "invalid-receipt")?;
    let f = Fields::new(&map);
    let now = state.now();
    let read = || -> Result<(String, DeliveryStatus, i64), FieldError> {
        f.only(&["message_id", "status", "at"])?;
        let id = f.str("message_id")?;
        if id.is_empty() || id.chars().count() > 128 {
            return Err(FieldError::Invalid { field: "message_id".into(), problem: "must be 1-128 characters".into() });
        }
        let known = DeliveryStatus::ALL.map(DeliveryStatus::as_str).join(", ");
        let status = DeliveryStatus::parse(f.str("status")?).ok_or_else(|| FieldError::Invalid {
            field: "status".into(),
            problem: format!("must be one of {known}"),
        })?;
        let at = f.time("at")?;
        check_time("at", at, now, None)?;
        Ok((id.to_owned(), status, at))
    };
    let (id, status, at) = read().map_err(|e| ApiError::bad_request("invalid-receipt", e.to_string()))?;
    let outcome = state.run(move |p| p.on_receipt(&id, status, at, now)).await?;
    match outcome {
        ReceiptOutcome::Recorded { .. } | ReceiptOutcome::PartRecorded { .. } => {
            Ok(Json(StatusResult { status: StatusOutcome::Recorded }))
        }
        ReceiptOutcome::Duplicate { .. } => Ok(Json(StatusResult { status: StatusOutcome::Duplicate })),
        ReceiptOutcome::Conflict { recorded, .. } => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "receipt-conflict",
            format!("the message already has the final status `{}`; it stands", recorded.as_str()),
        )),
        ReceiptOutcome::UnknownMessage => Err(ApiError::not_found("no sent message has that `message_id`")),
        ReceiptOutcome::BeforeSent => {
            Err(ApiError::bad_request("invalid-receipt", "field `at`: is before the message was sent"))
        }
    }
}
