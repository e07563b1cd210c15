//! What the operator's machinery calls: probes, the metrics scrape, and the API document.
//! None of these need a token: they carry no case data and no identifier.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `draining`.
    status: &'static str,
    /// Services offered by plugins that are not paused (`/readyz` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    services: Option<usize>,
    /// `connected` or `disconnected` for a gateway with a connection (SMPP; `/readyz`
    /// only). Intake does not need it: messages wait in the outbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    sms: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", services: None, sms: None })
}

/// The process takes work: `503` once shutdown has begun, so load balancers turn away first.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "Draining", body = Health)),
)]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    if state.draining.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "draining", services: None, sms: None }));
    }
    let active = state.pipeline.runtime().active();
    let services = active.services().filter(|(p, _)| !active.is_paused(&p.reference.id)).count();
    let sms = state.pipeline.gateway_connected().map(|up| if up { "connected" } else { "disconnected" });
    (StatusCode::OK, Json(Health { status: "ready", services: Some(services), sms }))
}

/// Prometheus text format: per plugin, invocations, errors, limit kills and call
/// durations; per pipeline stage, counts by outcome. Labels are plugin ids, stages and
/// fixed outcome words, never an identifier.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, content_type = "text/plain; version=0.0.4", body = String),
        (status = 503, description = "Another recorder owns the process", body = ErrorBody),
    ),
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no-metrics", "metrics are not recorded").into_response()
        }
    }
}

/// The rendered document, shared with the handler through an extension.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// This document: OpenAPI 3.1, generated from the handlers' annotations and the types
/// they answer with.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, content_type = "application/json", body = Object)),
)]
pub async fn openapi(Extension(Document(doc)): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned()).into_response()
}

/// One line per request: method, path (identifiers masked), status and time. Refusals at
/// `info`, server faults at `error`, the rest at `debug` (`PROACTIVE_LOG=info` shows every
/// refused request, which is what an operator chasing a client's problem wants).
pub async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = crate::redact::redact(req.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let (status, ms) = (response.status().as_u16(), started.elapsed().as_secs_f64() * 1000.0);
    match status {
        500.. => tracing::error!(%method, %path, status, ms, "request failed"),
        400..=499 => tracing::info!(%method, %path, status, ms, "request refused"),
        _ => tracing::debug!(%method, %path, status, ms, "request"),
    }
    response
}
