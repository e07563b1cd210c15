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
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::model::CaseState;
use crate::store::{Case, CaseFilter, DecisionRecord};

pub const MAX_PAGE: usize = 1000;

pub async fn get_case(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let scope = caller.case_scope()?.map(str::to_owned);
    let raw = id.map_err(|_| ApiError::bad_request("invalid-case-id", "the case id is missing"))?.0;
    let id: i64 =
        raw.parse().map_err(|_| ApiError::bad_request("invalid-case-id", "the case id must be a whole number"))?;
    let found = state
        .run(move |p| {
            let Some(case) = p.store().case(id)? else { return Ok(None) };
            let decisions = p.store().decisions(id)?;
            Ok(Some((case, decisions)))
        })
        .await?;
    match found {
        Some((case, decisions)) if scope.as_deref().is_none_or(|a| a == case.agency) => {
            Ok(Json(view(&case, Some(&decisions))))
        }
        _ => Err(ApiError::not_found(format!("no case {id}"))),
    }
}

pub async fn list_cases(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
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
    let cases = state.run(move |p| p.store().find_cases(&filter)).await?;
    let next = (cases.len() == limit).then(|| cases.last().map(|c| c.id)).flatten();
    Ok(Json(json!({
        "cases": cases.iter().map(|c| view(c, None)).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

fn view(case: &Case, decisions: Option<&[DecisionRecord]>) -> Value {
    let mut v = json!({
        "id": case.id,
        "event_id": case.event_id,
        "service": case.service,
        "agency": case.agency,
        "state": case.state.as_str(),
        "reason": case.reason,
        "ground": case.ground,
        "language": case.language.map(|l| l.as_str()),
        "consent_id": case.consent_id,
        "asks": case.asks,
        "offered_at": case.offered_at.map(rfc3339),
        "deadline": case.deadline.map(rfc3339),
        "created_at": rfc3339(case.created_at),
        "updated_at": rfc3339(case.updated_at),
    });
    if let Some(decisions) = decisions {
        v["decisions"] = decisions
            .iter()
            .map(|d| {
                json!({
                    "at": rfc3339(d.at),
                    "stage": d.stage,
                    "decision": d.decision,
                    "plugin": d.plugin.as_ref().map(|p| json!({ "id": p.id, "version": p.version, "sha256": p.hash })),
                })
            })
            .collect();
    }
    v
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default()
}
