use super::{AnyCaller, ApiError, Caller};
use crate::state::AppState;
use app::domain::watcher::{WatcherAction, WatcherStatus};
use app::domain::{Field, FieldError};
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
    let json = super::json::object(&headers, &body)?;
    let interval_ms = match json.get("interval_ms") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            FieldError::new(
                Field::IntervalMs,
                "Poll interval must be a whole number of milliseconds from 1000 to 60000",
            )
        })?),
    };
    let action = WatcherAction::parse(json.get("action").and_then(|v| v.as_str()), interval_ms)?;
    Ok(Json(state.watcher.control(&actor, action).await?))
}
