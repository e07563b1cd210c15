//! The HTTP API (axum): `/v1` for agencies' systems and SMS gateways, probes for the
//! operator.
//!
//! Handlers are thin: they authenticate, parse with the same validators as file intake,
//! and hand the work to the pipeline on a blocking thread. Pipeline steps run one at a time
//! (the `work` lock), as in a batch run, so two requests never race for one case or one
//! reply code; the async threads only ever parse and wait.

pub mod auth;
mod cases;
pub mod error;
mod events;
mod sms;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::model::Timestamp;
use crate::pipeline::Pipeline;
use auth::Tokens;
use error::ApiError;

/// What every handler shares.
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub tokens: Tokens,
    /// Held for every pipeline step: one step at a time, as the store's invariants assume.
    pub work: Arc<std::sync::Mutex<()>>,
    pub max_batch_lines: usize,
    /// Set when shutdown begins, so `/readyz` turns load balancers away first.
    pub draining: AtomicBool,
}

impl AppState {
    /// Run pipeline work on a blocking thread, one step at a time.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Pipeline) -> anyhow::Result<T> + Send + 'static,
    {
        let state = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _turn = state.work.lock().unwrap_or_else(|p| p.into_inner());
            f(&state.pipeline)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|e| ApiError::internal(&e)),
            Err(e) => Err(ApiError::internal(&anyhow::anyhow!("pipeline task ended abnormally: {e}"))),
        }
    }
}

/// The wall clock, in the pipeline's Unix seconds.
pub fn now() -> Timestamp {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/events", post(events::post_events))
        .route("/v1/cases", get(cases::list_cases))
        .route("/v1/cases/{id}", get(cases::get_case))
        .route("/v1/sms/inbound", post(sms::inbound))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.draining.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "draining" })));
    }
    let services = state.pipeline.runtime().active().services().count();
    (StatusCode::OK, Json(json!({ "status": "ready", "services": services })))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
}
