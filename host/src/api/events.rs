//! `POST /v1/events`: one event as a JSON object, or a batch as NDJSON. Idempotent on the
//! event id, like file intake, and validated by the same parser, so a line that one path
//! refuses the other refuses with the same words.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Principal, Role};
use super::error::ApiError;
use crate::intake::ndjson::{self, parse_object};
use crate::intake::parse_event;
use crate::model::{Event, Timestamp};
use crate::pipeline::Ingested;

/// How far ahead of the server's clock an event may claim to have happened: clocks drift,
/// but an event from next week is a sender's bug, and a case opened on it could not be undone.
pub const MAX_FUTURE_SECONDS: i64 = 300;

pub async fn post_events(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(&Role::EventSource, "send events")?;
    let body = body?;
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-ndjson") || t.starts_with("application/jsonl"));
    if ndjson {
        return batch(&state, body).await;
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid-event", "the body is not valid UTF-8"))?
        .trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("invalid-event", "the body is empty: expected one event as a JSON object"));
    }
    let received = state.now();
    let event = parse_object(text)
        .map_err(|e| e.to_string())
        .and_then(|m| validate(&m, received))
        .map_err(|problem| ApiError::bad_request("invalid-event", problem))?;
    let id = event.id.clone();
    let outcome = state.run(move |p| p.ingest(&event, received)).await?;
    Ok(match outcome {
        Ingested::New { cases } => {
            (StatusCode::CREATED, Json(json!({ "id": id, "status": "accepted", "cases": cases }))).into_response()
        }
        Ingested::Duplicate => (StatusCode::OK, Json(json!({ "id": id, "status": "duplicate" }))).into_response(),
    })
}

/// Validate one event object as file intake does, plus the server's clock bound.
fn validate(map: &serde_json::Map<String, Value>, received: Timestamp) -> Result<Event, String> {
    let event = parse_event(map).map_err(|e| crate::redact::redact(&e.to_string()))?;
    if event.occurred_at > received + MAX_FUTURE_SECONDS {
        return Err("field `occurred_at`: is in the future".into());
    }
    Ok(event)
}

/// An NDJSON batch: every line gets its own result, and a bad line never stops the others.
async fn batch(state: &Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let received = state.now();
    let mut results: Vec<Value> = Vec::new();
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
            Err(problem) => results.push(json!({ "line": line.number, "status": "rejected", "error": problem })),
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
    let (mut accepted, mut duplicate) = (0, 0);
    for (line, id, outcome) in outcomes {
        results.push(match outcome {
            Ingested::New { cases } => {
                accepted += 1;
                json!({ "line": line, "id": id, "status": "accepted", "cases": cases })
            }
            Ingested::Duplicate => {
                duplicate += 1;
                json!({ "line": line, "id": id, "status": "duplicate" })
            }
        });
    }
    let rejected = results.len() - accepted - duplicate;
    results.sort_by_key(|r| r["line"].as_u64());
    Ok(Json(json!({ "accepted": accepted, "duplicate": duplicate, "rejected": rejected, "results": results }))
        .into_response())
}
