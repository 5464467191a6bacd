use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::notifications::{Channel, ChannelRequest, Delivery};
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

fn channel_id(raw: &str) -> Result<i64, FieldError> {
    raw.parse().map_err(|_| {
        FieldError::new(
            Field::Id,
            "The channel id in the path must be a whole number",
        )
    })
}

/// `GET /api/notifications/channels` (admins): every channel, nothing secret.
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<Channel>>, ApiError> {
    Ok(Json(state.notifications.channels(&actor).await?))
}

/// `POST /api/notifications/channels {name, kind, url, secret?, mail_from?, mail_to?,
/// smtp_user?, topics: [...]}` (admins): 201 with the channel as listed.
pub async fn add(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    let raw: ChannelRequest = super::json::parse(&headers, &body)?;
    let channel = state.notifications.add_channel(&actor, raw).await?;
    Ok((StatusCode::CREATED, Json(channel)))
}

/// `POST /api/notifications/channels/{id}/remove` (admins).
pub async fn remove(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .notifications
        .remove_channel(&actor, channel_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/notifications/channels/{id}/test` (admins): 202 with the queued delivery.
pub async fn test(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let delivery = state
        .notifications
        .test_channel(&actor, channel_id(&id)?)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

/// `GET /api/notifications/deliveries`: the delivery log, newest first (every role).
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(state.notifications.deliveries(&actor).await?))
}
