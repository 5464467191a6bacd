use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::api_keys::{ApiKey, CreatedApiKey, KeyRequest};
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

/// `POST /api/keys {name, scopes: [...], expires_at?, rate_limit_per_minute?}`: 201 with the
/// key's secret, shown this once.
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let raw: KeyRequest = super::json::parse(&headers, &body)?;
    let created =
        app::server::api_keys::create(&state.pool, &actor, raw, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(
        app::server::api_keys::list(&state.pool, &actor).await?,
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| FieldError::new(Field::Id, "The key id in the path must be a whole number"))?;
    Ok(Json(
        app::server::api_keys::revoke(&state.pool, &state.api_keys, &actor, id, state.clock.now())
            .await?,
    ))
}
