//! `GET /v1/cases/{id}` and `GET /v1/cases`: an agency reads its own cases, the platform
//! admin reads all. Another agency's case answers 404, exactly like a case that does not
//! exist, so ids reveal nothing across agencies.
//!
//! A case is shown without the recipient's IIN or phone number: the agency knows whom the
//! event was about, and the gate's lookup results are the host's business (minimisation).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::model::CaseState;
use crate::store::{
    Case, CaseFilter, DecisionRecord, DeliveryStatus, MessageKind, MessageState, OutboxMessage, Receipt,
};

pub const MAX_PAGE: usize = 1000;

/// A case as an agency sees it: no IIN, no phone number.
#[derive(Serialize, ToSchema)]
pub struct CaseView {
    id: i64,
    event_id: String,
    service: String,
    agency: String,
    /// One of `received`, `skipped`, `gated-out`, `offered`, `awaiting-reply`, `provided`,
    /// `refused`, `failed`.
    #[schema(example = "offered")]
    state: &'static str,
    /// Why it was skipped, refused at the gate, or failed.
    reason: Option<String>,
    /// The legal ground of a refusal.
    ground: Option<String>,
    /// The language the citizen is written to in (`kk` or `ru`).
    language: Option<&'static str>,
    consent_id: Option<String>,
    /// The code the citizen's replies carry for this case (in the offer's text).
    reply_code: Option<String>,
    /// How many questions have been sent.
    asks: u32,
    offered_at: Option<String>,
    /// When the reply window closes (RFC 3339).
    deadline: Option<String>,
    created_at: String,
    updated_at: String,
    /// Every decision, in order, with the plugin build that made it (single case only).
    #[serde(skip_serializing_if = "Option::is_none")]
    decisions: Option<Vec<DecisionView>>,
    /// The SMS sent for the case, without number or text (single case only).
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<MessageView>>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    id: i64,
    kind: MessageKind,
    parts: u32,
    /// `queued`, `sent`, or `failed` (the gateway refused it).
    state: MessageState,
    queued_at: String,
    sent_at: Option<String>,
    /// The id the gateway gave the message, which its receipts name (`/v1/sms/status`).
    gateway_id: Option<String>,
    /// The network's final word, once a receipt has come.
    delivery: Option<DeliveryView>,
    /// The message's life so far, oldest first: `queued`, then `submitted` (or `failed`
    /// when the gateway refused it), then the receipt's status.
    steps: Vec<StepView>,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    /// `queued`, `submitted`, `failed`, `delivered`, `expired`, `undeliverable`,
    /// `rejected` or `deleted`.
    step: &'static str,
    at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    status: DeliveryStatus,
    at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DecisionView {
    at: String,
    /// `event`, `reply`, `timeout`, or `host` for the host's own decisions.
    stage: &'static str,
    decision: String,
    /// The plugin version that decided (`null` for the host's own decisions).
    plugin: Option<DecidedBy>,
}

#[derive(Serialize, ToSchema)]
pub struct DecidedBy {
    id: String,
    version: String,
    /// SHA-256 of the component, hex.
    sha256: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    cases: Vec<CaseView>,
    /// Pass as `after` for the next page; `null` on the last one.
    next_after: Option<i64>,
}

/// `GET /v1/cases/{id}`
#[utoipa::path(
    get,
    path = "/v1/cases/{id}",
    tag = "cases",
    params(("id" = i64, Path, description = "The case id")),
    responses(
        (status = 200, description = "The case with its decisions", body = CaseView),
        (status = 400, description = "The id is not a whole number", body = ErrorBody),
        (status = 403, description = "The token may not read cases", body = ErrorBody),
        (status = 404, description = "No such case, or another agency's", body = ErrorBody),
    ),
)]
pub async fn get_case(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let scope = caller.case_scope()?.map(str::to_owned);
    let raw = id.map_err(|_| ApiError::bad_request("invalid-case-id", "the case id is missing"))?.0;
    let id: i64 =
        raw.parse().map_err(|_| ApiError::bad_request("invalid-case-id", "the case id must be a whole number"))?;
    let found = state
        .read(move |p| {
            let Some(case) = p.store().case(id)? else { return Ok(None) };
            let decisions = p.store().decisions(id)?;
            let messages = p.store().messages_for_case(id)?;
            let receipts = p.store().receipts_for_case(id)?;
            Ok(Some((case, decisions, messages, receipts)))
        })
        .await?;
    match found {
        Some((case, decisions, messages, receipts)) if scope.as_deref().is_none_or(|a| a == case.agency) => {
            let mut v = view(&case, Some(&decisions));
            v.messages = Some(messages.iter().map(|m| message_view(m, &receipts)).collect());
            Ok(Json(v))
        }
        _ => Err(ApiError::not_found(format!("no case {id}"))),
    }
}

/// `GET /v1/cases`: the caller's agency's cases (all cases for the platform admin), by id.
#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "cases",
    params(
        ("service" = Option<String>, Query, description = "Only this service's cases"),
        ("state" = Option<String>, Query, description = "Only cases in this state"),
        ("limit" = Option<usize>, Query, description = "Page size, 1-1000 (default 100)"),
        ("after" = Option<i64>, Query, description = "Only cases with a greater id (paging)"),
    ),
    responses(
        (status = 200, description = "A page of cases", body = CaseList),
        (status = 400, description = "A parameter is invalid or unknown; the message names it", body = ErrorBody),
        (status = 403, description = "The token may not read cases", body = ErrorBody),
    ),
)]
pub async fn list_cases(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<CaseList>, ApiError> {
    let scope = caller.case_scope()?.map(str::to_owned);
    let query = query.map_err(|_| ApiError::bad_request("invalid-query", "the query string is malformed"))?.0;
    let mut filter = CaseFilter { agency: scope, limit: 100, ..CaseFilter::default() };
    for (key, value) in &query {
        match key.as_str() {
            "service" => filter.service = Some(value.clone()),
            "state" => {
                filter.state =
                    Some(CaseState::parse(value).ok_or_else(|| {
                        ApiError::bad_request("invalid-query", "parameter `state` is not a case state")
                    })?)
            }
            "limit" => {
                filter.limit = value.parse().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
                    ApiError::bad_request("invalid-query", format!("parameter `limit` must be 1-{MAX_PAGE}"))
                })?
            }
            "after" => {
                filter.after = value.parse().map_err(|_| {
                    ApiError::bad_request("invalid-query", "parameter `after` must be a case id (a whole number)")
                })?
            }
            _ => return Err(ApiError::unknown_parameter(key, "service, state, limit, after")),
        }
    }
    let limit = filter.limit;
    let cases = state.read(move |p| p.store().find_cases(&filter)).await?;
    let next = (cases.len() == limit).then(|| cases.last().map(|c| c.id)).flatten();
    Ok(Json(CaseList { cases: cases.iter().map(|c| view(c, None)).collect(), next_after: next }))
}

fn view(case: &Case, decisions: Option<&[DecisionRecord]>) -> CaseView {
    CaseView {
        id: case.id,
        event_id: case.event_id.clone(),
        service: case.service.clone(),
        agency: case.agency.clone(),
        state: case.state.as_str(),
        reason: case.reason.clone(),
        ground: case.ground.clone(),
        language: case.language.map(|l| l.as_str()),
        consent_id: case.consent_id.clone(),
        reply_code: case.reply_code.clone(),
        asks: case.asks,
        offered_at: case.offered_at.map(rfc3339),
        deadline: case.deadline.map(rfc3339),
        created_at: rfc3339(case.created_at),
        updated_at: rfc3339(case.updated_at),
        decisions: decisions.map(|ds| {
            ds.iter()
                .map(|d| DecisionView {
                    at: rfc3339(d.at),
                    stage: d.stage,
                    decision: d.decision.clone(),
                    plugin: d.plugin.as_ref().map(|p| DecidedBy {
                        id: p.id.clone(),
                        version: p.version.clone(),
                        sha256: p.hash.clone(),
                    }),
                })
                .collect()
        }),
        messages: None,
    }
}

fn message_view(m: &OutboxMessage, receipts: &[Receipt]) -> MessageView {
    let receipt = receipts.iter().find(|r| r.message_id == m.id);
    let mut steps = vec![StepView { step: "queued", at: rfc3339(m.queued_at) }];
    if let Some(at) = m.sent_at {
        let step = if m.state == MessageState::Failed { "failed" } else { "submitted" };
        steps.push(StepView { step, at: rfc3339(at) });
    }
    if let Some(r) = receipt {
        steps.push(StepView { step: r.status.as_str(), at: rfc3339(r.at) });
    }
    MessageView {
        steps,
        id: m.id,
        kind: m.kind,
        parts: m.parts,
        state: m.state,
        queued_at: rfc3339(m.queued_at),
        sent_at: m.sent_at.map(rfc3339),
        gateway_id: m.gateway_id.clone(),
        delivery: receipt.map(|r| DeliveryView { status: r.status, at: rfc3339(r.at) }),
    }
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default()
}
