//! `POST /v1/events`: one event as a JSON object, or a batch as NDJSON. Idempotent on the
//! event id, like file intake, and validated by the same parser, so a line that one path
//! refuses the other refuses with the same words.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Principal, Role};
use super::error::{ApiError, ErrorBody};
use crate::intake::ndjson;
use crate::intake::parse_event;
use crate::model::{Event, Timestamp};
use crate::pipeline::Ingested;

/// One event as an agency's system sends it: the fields of a line of an intake file, and
/// validated by the same code. (Described here for the API document; the validator is
/// [`parse_event`].)
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema for the document; requests are parsed by parse_event")]
pub struct EventRequest {
    /// The sender's id, unique per event: a resend with the same id is a duplicate. 1-128
    /// printable ASCII characters, with no run of 10 or more digits (ids enter the audit log).
    #[schema(example = "zags-2026-000123-a")]
    id: String,
    /// An event kind from the catalogue.
    #[schema(example = "birth.registered")]
    kind: String,
    /// The IIN the event is about: 12 digits with a valid check digit.
    subject: String,
    /// When it happened (RFC 3339); at most five minutes ahead of the server's clock.
    #[schema(example = "2026-12-01T09:30:00+05:00")]
    occurred_at: String,
    /// The kind's attributes, as strings or numbers (the catalogue says which are required).
    attributes: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// New: stored, and a case opened for each subscribed service.
    Accepted,
    /// Already stored under this id: nothing was done.
    Duplicate,
    /// Refused (batch lines only; a single event is refused with a 400).
    Rejected,
    /// The id is already stored for a different event: nothing was done (a single event
    /// gets a 409).
    Conflict,
}

/// What became of one event (of one line, in a batch).
#[derive(Serialize, ToSchema)]
pub struct EventOutcome {
    /// The line's number in the batch, from 1 (batches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    status: EventStatus,
    /// Cases opened (accepted events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    cases: Option<usize>,
    /// Why the line was refused (rejected lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl EventOutcome {
    fn ingested(line: Option<usize>, id: String, outcome: Ingested) -> Self {
        let (status, cases, error) = match outcome {
            Ingested::New { cases } => (EventStatus::Accepted, Some(cases), None),
            Ingested::Duplicate => (EventStatus::Duplicate, None, None),
            Ingested::Conflict => (EventStatus::Conflict, None, Some(CONFLICT.to_owned())),
        };
        EventOutcome { line, id: Some(id), status, cases, error }
    }
}

const CONFLICT: &str = "this event id is already stored for a different event; nothing was done";

/// A batch's results, one per line in line order, with the totals.
#[derive(Serialize, ToSchema)]
pub struct BatchOutcome {
    accepted: usize,
    duplicate: usize,
    conflict: usize,
    rejected: usize,
    results: Vec<EventOutcome>,
}

/// `POST /v1/events`
///
/// Takes one event (`application/json`) or a batch, one event per line
/// (`application/x-ndjson`). Idempotent on the event id. In a batch every line gets its own
/// result and a bad line never stops the others.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body(
        description = "One event, or an NDJSON batch of them",
        content((EventRequest = "application/json"), (String = "application/x-ndjson")),
    ),
    responses(
        (status = 201, description = "The event was new: stored, cases opened", body = EventOutcome),
        (status = 200, description = "A duplicate event (JSON), or a batch's per-line results (NDJSON)",
            content((EventOutcome = "application/json"), (BatchOutcome = "application/x-ndjson"))),
        (status = 400, description = "The event is invalid; the message names the field", body = ErrorBody),
        (status = 409, description = "The id is already stored for a different event", body = ErrorBody),
        (status = 403, description = "The token is not an event source", body = ErrorBody),
        (status = 413, description = "The body or the batch is over the limit", body = ErrorBody),
        (status = 415, description = "Neither JSON nor NDJSON", body = ErrorBody),
    ),
)]
pub async fn post_events(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(&Role::EventSource, "send events")?;
    let body = body?;
    match super::body::media_type(&headers).as_deref() {
        Some("application/x-ndjson" | "application/jsonl") => return batch(&state, body).await,
        Some("application/json") => {}
        other => return Err(super::body::unsupported("application/json or application/x-ndjson", other)),
    }
    let map = super::body::object(&body, "invalid-event")?;
    let received = state.now();
    let event = validate(&map, received).map_err(|problem| ApiError::bad_request("invalid-event", problem))?;
    let id = event.id.clone();
    let outcome = state.run(move |p| p.ingest(&event, received)).await?;
    let status = match outcome {
        Ingested::New { .. } => StatusCode::CREATED,
        Ingested::Duplicate => StatusCode::OK,
        Ingested::Conflict => return Err(ApiError::new(StatusCode::CONFLICT, "event-id-conflict", CONFLICT)),
    };
    Ok((status, Json(EventOutcome::ingested(None, id, outcome))).into_response())
}

/// Validate one event object as file intake does, plus the server's clock bound.
fn validate(map: &serde_json::Map<String, Value>, received: Timestamp) -> Result<Event, String> {
    let event = parse_event(map).map_err(|e| crate::redact::redact(&e.to_string()))?;
    super::body::check_time("occurred_at", event.occurred_at, received, None).map_err(|e| e.to_string())?;
    Ok(event)
}

/// An NDJSON batch: every line gets its own result, and a bad line never stops the others.
async fn batch(state: &Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let received = state.now();
    let mut results: Vec<EventOutcome> = Vec::new();
    let mut valid: Vec<(usize, Event)> = Vec::new();
    for line in ndjson::lines(body.as_ref()) {
        if results.len() + valid.len() >= state.max_batch_lines {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-lines",
                format!("a batch takes at most {} lines; nothing in this one was taken", state.max_batch_lines),
            ));
        }
        match line.result.map_err(|e| e.to_string()).and_then(|m| validate(&m, received)) {
            Ok(event) => valid.push((line.number, event)),
            Err(problem) => results.push(EventOutcome {
                line: Some(line.number),
                id: None,
                status: EventStatus::Rejected,
                cases: None,
                error: Some(problem),
            }),
        }
    }
    let outcomes = state
        .run(move |p| {
            valid
                .into_iter()
                .map(|(line, event)| Ok((line, event.id.clone(), p.ingest(&event, received)?)))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await?;
    let rejected = results.len();
    results.extend(outcomes.into_iter().map(|(line, id, outcome)| EventOutcome::ingested(Some(line), id, outcome)));
    results.sort_by_key(|r| r.line);
    let count = |s: fn(&EventStatus) -> bool| results.iter().filter(|r| s(&r.status)).count();
    let accepted = count(|s| matches!(s, EventStatus::Accepted));
    let duplicate = count(|s| matches!(s, EventStatus::Duplicate));
    let conflict = count(|s| matches!(s, EventStatus::Conflict));
    Ok(Json(BatchOutcome { accepted, duplicate, conflict, rejected, results }).into_response())
}
