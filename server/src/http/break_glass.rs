use super::{AnyCaller, ApiError, Caller};
use crate::state::AppState;
use app::domain::break_glass::{
    AcknowledgementRequest, ActivatedWindow, ActivationRequest, BreakGlassStatus,
    DeactivationSummary, ExtensionRequest, Policy, PolicyRequest, ScopedKey,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

pub async fn status(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
) -> Result<Json<BreakGlassStatus>, ApiError> {
    Ok(Json(state.break_glass.status(&reader)?))
}

pub async fn activate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActivatedWindow>, ApiError> {
    let raw: ActivationRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.activate(&actor, raw).await?))
}

/// `POST /api/break-glass/drill {reason, duration_minutes, scope_keys?, scope_models?,
/// confirm}`: a rehearsal of the whole procedure that bypasses nothing.
pub async fn drill(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActivatedWindow>, ApiError> {
    let raw: ActivationRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.start_drill(&actor, raw).await?))
}

/// `GET /api/break-glass/scope-keys`: the API keys a window may be scoped to (id and name).
pub async fn scope_keys(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<ScopedKey>>, ApiError> {
    Ok(Json(
        app::server::api_keys::scopable(&state.pool, &actor, state.clock.now()).await?,
    ))
}

/// `POST /api/break-glass/request {reason, duration_minutes, confirm}` under the
/// approval-required policy: 200 with the status, the request waiting.
pub async fn request(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BreakGlassStatus>, ApiError> {
    let raw: ActivationRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.request(&actor, raw).await?))
}

/// `POST /api/break-glass/approve {note}`: a second operator opens the requested window.
pub async fn approve(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActivatedWindow>, ApiError> {
    let raw: AcknowledgementRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.approve(&actor, raw).await?))
}

/// `POST /api/break-glass/deny {note}`: a second operator turns the request down.
pub async fn deny(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BreakGlassStatus>, ApiError> {
    let raw: AcknowledgementRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.deny(&actor, raw).await?))
}

/// `GET /api/break-glass/policy`: `{ack_minutes, mode, approval_minutes}`.
pub async fn policy(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(state.break_glass.policy(&reader)?))
}

/// `PUT /api/break-glass/policy {ack_minutes?, mode?, approval_minutes?}` (admins): what it
/// names changes, audited; applies to the next window.
pub async fn set_policy(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Policy>, ApiError> {
    let raw: PolicyRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.set_policy(&actor, raw).await?))
}

/// `POST /api/break-glass/acknowledge {note}`: a second operator answers for the open window.
pub async fn acknowledge(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActivatedWindow>, ApiError> {
    let raw: AcknowledgementRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.acknowledge(&actor, raw).await?))
}

/// `POST /api/break-glass/extend {reason, minutes}`: the open window's end moves later.
pub async fn extend(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ActivatedWindow>, ApiError> {
    let raw: ExtensionRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.break_glass.extend(&actor, raw).await?))
}

pub async fn deactivate(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<DeactivationSummary>, ApiError> {
    Ok(Json(state.break_glass.deactivate(&actor).await?))
}
