//! The HTTP API (axum): `/v1` for agencies' systems and SMS gateways, probes for the
//! operator.
//!
//! Handlers are thin: they authenticate, parse with the same validators as file intake,
//! and hand the work to the pipeline on a blocking thread. Pipeline steps run one at a time
//! (the `work` lock), as in a batch run, so two requests never race for one case or one
//! reply code; the async threads only ever parse and wait.

pub mod admin;
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
    pub deployer: Arc<crate::deploy::Deployer>,
    pub clock: Clock,
    pub tokens: Tokens,
    /// Held for every pipeline step: one step at a time, as the store's invariants assume.
    pub work: Arc<std::sync::Mutex<()>>,
    pub max_batch_lines: usize,
    /// Renders `/metrics` (`None` when another recorder owns the process).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
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
        self.blocking(true, move |s| f(&s.pipeline).map_err(|e| ApiError::internal(&e))).await
    }

    /// Run `f` on a blocking thread, holding the pipeline's lock when `locked`.
    pub async fn blocking<T, F>(self: &Arc<Self>, locked: bool, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _turn = locked.then(|| state.work.lock().unwrap_or_else(|p| p.into_inner()));
            f(&state)
        })
        .await;
        joined.unwrap_or_else(|e| Err(ApiError::internal(&anyhow::anyhow!("a blocking task ended abnormally: {e}"))))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Where the server's time comes from.
pub enum Clock {
    Wall,
    /// For tests of time-dependent behaviour: an RFC 3339 time read from a file at every
    /// look (the wall clock while the file is missing or unreadable).
    File(std::path::PathBuf),
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        let wall = || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        };
        match self {
            Clock::Wall => wall(),
            Clock::File(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|t| crate::intake::ndjson::parse_time(&t))
                .unwrap_or_else(wall),
        }
    }
}

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/events", post(events::post_events))
        .route("/v1/cases", get(cases::list_cases))
        .route("/v1/cases/{id}", get(cases::get_case))
        .route("/v1/sms/inbound", post(sms::inbound))
        .route("/admin/v1/plugins", get(admin::list))
        .route(
            "/admin/v1/plugins/{id}/versions",
            get(admin::history)
                .post(admin::upload)
                .layer(DefaultBodyLimit::max(crate::runtime::MAX_COMPONENT_BYTES as usize + 1)),
        )
        .route("/admin/v1/plugins/{id}/activate", post(admin::activate))
        .route("/admin/v1/plugins/{id}/rollback", post(admin::rollback))
        .route("/admin/v1/plugins/{id}/disable", post(admin::disable))
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

/// Prometheus text format. Unauthenticated like the probes: it carries counts by plugin,
/// stage and outcome, never an identifier, and scrapers sit inside the platform network.
async fn metrics(State(state): State<Arc<AppState>>) -> axum::response::Response {
    match &state.metrics {
        Some(handle) => {
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no-metrics", "metrics are not recorded").into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
}
