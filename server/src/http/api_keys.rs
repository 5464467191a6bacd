use super::{ApiError, Caller};
use app::api_keys::{ApiKey, CreatedApiKey, KeySpec};
use app::domain::AppError;
use app::domain::{Field, FieldError};
use app::state::AppState;
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
    let json = super::json::object(&headers, &body)?;
    let name = json
        .get("name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| AppError::from(FieldError::new(Field::Name, "Name is required (text)")))?;
    let scopes: Vec<String> =
        match json.get("scopes") {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| FieldError::new(Field::Scopes, "Scopes must be a list of names"))?,
            _ => return Err(FieldError::new(
                Field::Scopes,
                "Scopes are required: a list of gateway, ingest, shield:scan, break_glass:read, \
                 audit:read",
            )
            .into()),
        };
    let expires_at = match json.get("expires_at") {
        None | Some(serde_json::Value::Null) => "",
        Some(v) => v
            .as_str()
            .ok_or_else(|| FieldError::new(Field::ExpiresAt, "Expiry must be an RFC 3339 time"))?,
    };
    let rate_limit = match json.get("rate_limit_per_minute") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            FieldError::new(
                Field::RateLimit,
                "Rate limit must be a whole number of requests per minute",
            )
        })?),
    };
    let now = state.clock.now();
    let spec = KeySpec::parse(name, &scopes, expires_at, rate_limit, now)?;
    let created = app::api_keys::create(&state.pool, &actor, &spec, now).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(app::api_keys::list(&state.pool, &actor).await?))
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
        app::api_keys::revoke(&state.pool, &state.api_keys, &actor, id, state.clock.now()).await?,
    ))
}
