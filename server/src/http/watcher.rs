use super::{AnyCaller, ApiError, Caller};
use crate::state::AppState;
use app::domain::watcher::{WatcherControlRequest, WatcherStatus};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

/// `GET /api/watcher/status`: for operators and for tools holding an API key.
pub async fn status(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
) -> Result<Json<WatcherStatus>, ApiError> {
    Ok(Json(state.watcher.status(&reader)?))
}

/// `POST /api/watcher {"action": "poll_now" | "set_interval" | "enable" | "disable",
/// "interval_ms"}`: audited; answers the status after the action (after the pass for
/// `poll_now`).
pub async fn control(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WatcherStatus>, ApiError> {
    let raw: WatcherControlRequest = super::json::parse(&headers, &body)?;
    Ok(Json(state.watcher.control(&actor, raw).await?))
}
