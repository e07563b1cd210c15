//! `/admin/v1`: plugin versions for the platform team and for each agency's own plugins.
//!
//! An upload is the component's bytes as the body, with the agency's Ed25519 signature
//! over them in the `Proactive-Signature` header (base64). Query parameters:
//! `activate=false` stores without activating; `effective_from` (RFC 3339, or a date taken
//! as local midnight in Almaty) schedules the activation. The compile runs on a blocking
//! thread without the pipeline's lock, so events keep flowing; only recording and the
//! swap take the lock.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Principal, Role};
use super::error::{ApiError, ErrorBody};
use crate::deploy::signing::SignatureError;
use crate::deploy::{Change, DeployError, PluginInfo, Requester, Status, Uploaded};
use crate::model::Timestamp;
use crate::store::{PluginAction, PluginVersion};

#[derive(Serialize, ToSchema)]
pub struct PluginList {
    plugins: Vec<PluginInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    /// Every stored version, in upload order.
    versions: Vec<PluginVersion>,
    /// Every change (upload, activate, schedule, rollback, disable) with its actor, in order.
    actions: Vec<PluginAction>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeResult {
    status: Status,
}

/// The plugin a route is about, for the document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "a parameter for the document; the handlers take the path themselves")]
pub struct PluginPath {
    /// The plugin id (the name of its component file)
    id: String,
}

/// What every change of a plugin's state can answer (each route adds its own).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, reason = "responses for the document")]
pub enum ChangeResponses {
    /// What the plugin serves now
    #[response(status = 200)]
    Changed(ChangeResult),
    /// Another agency's plugin, or not a plugin manager
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such plugin
    #[response(status = 404)]
    NotFound(ErrorBody),
}

#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema for the document; the handler reads the field itself")]
pub struct ActivateRequest {
    /// The content hash of a stored version of this plugin.
    sha256: String,
}

pub const SIGNATURE_HEADER: &str = "proactive-signature";

fn requester(caller: &Principal) -> Result<Requester, ApiError> {
    match &caller.role {
        Role::Admin => Ok(Requester { actor: caller.id.clone(), agency: None }),
        Role::Agency(a) => Ok(Requester { actor: caller.id.clone(), agency: Some(a.clone()) }),
        Role::EventSource | Role::Gateway => Err(ApiError::forbidden("this token may not manage plugins")),
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let message = e.to_string();
        match e {
            DeployError::BadId => ApiError::bad_request("invalid-plugin-id", message),
            DeployError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", message),
            DeployError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-component", message),
            DeployError::Signature(SignatureError::Missing) => ApiError::bad_request("signature-missing", message),
            DeployError::Signature(SignatureError::Malformed) => ApiError::bad_request("signature-malformed", message),
            DeployError::Signature(_) => ApiError::new(StatusCode::FORBIDDEN, "bad-signature", message),
            DeployError::Forbidden(_) => ApiError::forbidden(message),
            DeployError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            DeployError::NotFound(_) => ApiError::not_found(message),
            DeployError::Store(e) => ApiError::internal(&e),
        }
    }
}

/// Upload a version: the component's bytes as the body, the agency's signature in the header.
///
/// It is compiled and validated (world, manifest, templates, agency) before anything is
/// stored; only then is it swapped in. Calls in flight finish on the old version.
#[utoipa::path(
    post,
    path = "/admin/v1/plugins/{id}/versions",
    tag = "admin",
    params(
        ("id" = String, Path, description = "The plugin id (its file stem)"),
        ("Proactive-Signature" = String, Header,
            description = "Base64 Ed25519 signature over the body by the owning agency's key"),
        ("activate" = Option<bool>, Query, description = "`false` stores without activating (default `true`)"),
        ("effective_from" = Option<String>, Query,
            description = "RFC 3339 time, or a date (midnight in Almaty): activate then, not now"),
    ),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component"),
    responses(
        (status = 201, description = "Stored (and activated or scheduled)", body = Uploaded),
        (status = 400, description = "Missing or malformed signature, bad id or query", body = ErrorBody),
        (status = 403, description = "Wrong signature, or not this plugin's agency", body = ErrorBody),
        (status = 409, description = "Conflicts with the plugin's current state", body = ErrorBody),
        (status = 413, description = "The component is over the size limit", body = ErrorBody),
        (status = 422, description = "Not a valid component for the platform's world", body = ErrorBody),
    ),
)]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    // The body is read first (bounded, and refused at once when declared oversized):
    // answering before reading it breaks the connection under clients that write the
    // whole body before they read, and a refusal should reach them as a refusal.
    let body = component_body(&headers, body).await;
    let requester = requester(&caller)?;
    let query = query.map_err(|_| ApiError::bad_request("invalid-query", "the query string is malformed"))?.0;
    let mut activate = true;
    let mut effective_from = None;
    for (key, value) in &query {
        match key.as_str() {
            "activate" => {
                activate = value
                    .parse()
                    .map_err(|_| ApiError::bad_request("invalid-query", "parameter `activate` must be true or false"))?
            }
            "effective_from" => effective_from = Some(parse_effective(value)?),
            _ => return Err(ApiError::unknown_parameter(key, "activate, effective_from")),
        }
    }
    let body = body?;
    let signature = match headers.get(SIGNATURE_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("signature-malformed", "the signature header is not ASCII"))?
                .to_owned(),
        ),
    };
    let bytes = body.to_vec();
    state.deployer.precheck(&requester, &bytes, signature.as_deref())?;
    let (id_v, bytes_v) = (id.clone(), bytes.clone());
    let validated = state.blocking(false, move |s| Ok(s.deployer.validate(&id_v, &bytes_v)?)).await?;
    let uploaded = state
        .blocking(true, move |s| {
            let now = s.now();
            Ok(s.deployer.upload(
                &requester,
                &id,
                &bytes,
                validated,
                signature.as_deref(),
                activate,
                effective_from,
                now,
            )?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(uploaded)).into_response())
}

/// The component, refused at once when its declared length is over the limit: a huge
/// upload costs the server neither the reading nor the memory.
async fn component_body(headers: &HeaderMap, body: axum::body::Body) -> Result<Bytes, ApiError> {
    let limit = crate::runtime::MAX_COMPONENT_BYTES;
    let declared = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit) {
        return Err(DeployError::TooLarge(n as usize).into());
    }
    axum::body::to_bytes(body, limit as usize).await.map_err(|e| {
        if e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            DeployError::TooLarge(limit as usize + 1).into()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad-body", "the request body could not be read")
        }
    })
}

/// RFC 3339, or a bare date meaning midnight in Almaty (a legal act takes effect on a date).
fn parse_effective(text: &str) -> Result<Timestamp, ApiError> {
    if let Some(t) = crate::intake::ndjson::parse_time(text) {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| d.and_local_timezone(chrono_tz::Asia::Almaty).earliest())
        .map(|d| d.timestamp())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid-query",
                "parameter `effective_from` must be an RFC 3339 time or a date such as 2027-01-01",
            )
        })
}

/// The plugins the caller may manage, with what each serves.
#[utoipa::path(
    get,
    path = "/admin/v1/plugins",
    tag = "admin",
    responses(
        (status = 200, description = "The plugins", body = PluginList),
        (status = 403, description = "The token may not manage plugins", body = ErrorBody),
    ),
)]
pub async fn list(State(state): State<Arc<AppState>>, caller: Principal) -> Result<Json<PluginList>, ApiError> {
    let requester = requester(&caller)?;
    let plugins = state.blocking(false, move |s| Ok(s.deployer.list(&requester)?)).await?;
    Ok(Json(PluginList { plugins }))
}

/// A plugin's stored versions and its change log.
#[utoipa::path(
    get,
    path = "/admin/v1/plugins/{id}/versions",
    tag = "admin",
    params(PluginPath),
    responses(
        (status = 200, description = "Versions and actions", body = History),
        (status = 403, description = "Another agency's plugin, or not a plugin manager", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
    ),
)]
pub async fn history(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let requester = requester(&caller)?;
    let (versions, actions) = state.blocking(false, move |s| Ok(s.deployer.history(&requester, &id)?)).await?;
    Ok(Json(History { versions, actions }))
}

/// Activate a stored version now.
#[utoipa::path(
    post,
    path = "/admin/v1/plugins/{id}/activate",
    tag = "admin",
    params(PluginPath),
    request_body = ActivateRequest,
    responses(
        (status = 200, description = "What the plugin serves now", body = ChangeResult),
        (status = 400, description = "The body is invalid; the message names the field", body = ErrorBody),
        (status = 403, description = "Another agency's plugin, or not a plugin manager", body = ErrorBody),
        (status = 404, description = "No such plugin or version", body = ErrorBody),
    ),
)]
pub async fn activate(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ChangeResult>, ApiError> {
    let body = body?;
    let map = super::body::json_object(&headers, &body, "invalid-body")?;
    let f = crate::intake::ndjson::Fields::new(&map);
    let bad = |e: crate::intake::ndjson::FieldError| ApiError::bad_request("invalid-body", e.to_string());
    f.only(&["sha256"]).map_err(bad)?;
    let sha = f.str("sha256").map_err(bad)?.to_owned();
    change(state, caller, id, move |sha_ref| Change::Activate(sha_ref), sha).await
}

/// Go back to the version active before the current one.
#[utoipa::path(
    post,
    path = "/admin/v1/plugins/{id}/rollback",
    tag = "admin",
    params(PluginPath),
    responses(ChangeResponses, (status = 409, description = "There is no previous version", body = ErrorBody)),
)]
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<ChangeResult>, ApiError> {
    change(state, caller, id, |_| Change::Rollback, String::new()).await
}

/// Activate again the version last activated (after a disable, or the circuit breaker).
/// Cases that waited meanwhile are decided by the server's next tick.
#[utoipa::path(
    post,
    path = "/admin/v1/plugins/{id}/enable",
    tag = "admin",
    params(PluginPath),
    responses(ChangeResponses, (status = 409, description = "No version was ever activated", body = ErrorBody)),
)]
pub async fn enable(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<ChangeResult>, ApiError> {
    change(state, caller, id, |_| Change::Enable, String::new()).await
}

/// Stop the plugin taking new events: its services' new cases wait (state `received`)
/// until it is enabled or another version activated.
#[utoipa::path(
    post,
    path = "/admin/v1/plugins/{id}/disable",
    tag = "admin",
    params(PluginPath),
    responses(ChangeResponses)
)]
pub async fn disable(
    State(state): State<Arc<AppState>>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<ChangeResult>, ApiError> {
    change(state, caller, id, |_| Change::Disable, String::new()).await
}

async fn change(
    state: Arc<AppState>,
    caller: Principal,
    id: String,
    make: impl for<'a> FnOnce(&'a str) -> Change<'a> + Send + 'static,
    arg: String,
) -> Result<Json<ChangeResult>, ApiError> {
    let requester = requester(&caller)?;
    let status = state
        .blocking(true, move |s| {
            let now = s.now();
            Ok(s.deployer.change(&requester, &id, make(&arg), now)?)
        })
        .await?;
    Ok(Json(ChangeResult { status }))
}
