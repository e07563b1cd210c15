//! The HTTP API (axum): `/v1` for agencies' systems and SMS gateways, probes for the
//! operator.
//!
//! Handlers are thin: they authenticate, parse with the same validators as file intake,
//! and hand the work to the pipeline on a blocking thread. Pipeline steps run one at a time
//! (the `work` lock), as in a batch run, so two requests never race for one case or one
//! reply code; the async threads only ever parse and wait.

pub mod admin;
pub mod auth;
mod body;
mod cases;
pub mod error;
mod events;
mod openapi;
mod ops;
mod sms;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::{Extension, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

    /// Read the store on a blocking thread without the pipeline's lock: reads see committed
    /// steps only (each step is one transaction), so they need not wait for a long batch.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Pipeline) -> anyhow::Result<T> + Send + 'static,
    {
        self.blocking(false, move |s| f(&s.pipeline).map_err(|e| ApiError::internal(&e))).await
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
    let (routes, mut document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(events::post_events))
        .routes(routes!(cases::list_cases))
        .routes(routes!(cases::get_case))
        .routes(routes!(sms::inbound))
        .routes(routes!(sms::delivery_status))
        .routes(routes!(admin::list))
        .routes(routes!(admin::history, admin::upload))
        .routes(routes!(admin::activate))
        .routes(routes!(admin::rollback))
        .routes(routes!(admin::enable))
        .routes(routes!(admin::disable))
        .split_for_parts();
    openapi::require_bearer(&mut document);
    let document = document.to_pretty_json().expect("the API document serialises");
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(ops::Document(Arc::new(document))))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn(ops::log_request))
        .with_state(state)
}

/// A handler that panicked answers like any server fault: JSON, no detail (the hook in
/// [`crate::redact`] has logged it, redacted). Pipeline work already runs on blocking
/// threads whose panics become errors; this covers the async half.
fn panicked(payload: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    let message = crate::redact::panic_message(&*payload);
    axum::response::IntoResponse::into_response(ApiError::internal(&anyhow::anyhow!("a handler panicked: {message}")))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
}
