use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::operators::{parse_role, NewOperator, NewOperatorRequest, NewPassword};
use app::domain::OperatorAccount;
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

fn operator_id(raw: &str) -> Result<i64, FieldError> {
    raw.parse().map_err(|_| {
        FieldError::new(
            Field::Id,
            "The operator id in the path must be a whole number",
        )
    })
}

fn text(json: &serde_json::Value, field: Field) -> &str {
    json.get(field.as_str())
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

/// `GET /api/operators` (admin).
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<OperatorAccount>>, ApiError> {
    Ok(Json(state.operators.list(&actor).await?))
}

/// `POST /api/operators {username, password, role}` (admin): 201.
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let raw: NewOperatorRequest = super::json::parse(&headers, &body)?;
    let created = state
        .operators
        .create(&actor, &NewOperator::try_from(raw)?)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `POST /api/operators/{id}/role {role}` (admin).
pub async fn set_role(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<OperatorAccount>, ApiError> {
    let json = super::json::object(&headers, &body)?;
    let id = operator_id(&id)?;
    let role = parse_role(text(&json, Field::Role))?;
    Ok(Json(state.operators.set_role(&actor, id, role).await?))
}

/// `POST /api/operators/{id}/disable` (admin): their sessions and event streams end at once.
pub async fn disable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<OperatorAccount>, ApiError> {
    Ok(Json(
        state
            .operators
            .set_disabled(&actor, operator_id(&id)?, true)
            .await?,
    ))
}

/// `POST /api/operators/{id}/enable` (admin).
pub async fn enable(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<OperatorAccount>, ApiError> {
    Ok(Json(
        state
            .operators
            .set_disabled(&actor, operator_id(&id)?, false)
            .await?,
    ))
}

/// `POST /api/operators/{id}/password {password}` (admin): their sessions end.
pub async fn reset_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<OperatorAccount>, ApiError> {
    let json = super::json::object(&headers, &body)?;
    let id = operator_id(&id)?;
    let password = NewPassword::parse(Field::Password, text(&json, Field::Password))?;
    Ok(Json(
        state
            .operators
            .reset_password(&actor, id, &password)
            .await?,
    ))
}

/// `POST /api/auth/password {current_password, new_password}`: the caller's own password;
/// their other sessions end.
pub async fn change_own_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let json = super::json::object(&headers, &body)?;
    let new = NewPassword::parse(Field::NewPassword, text(&json, Field::NewPassword))?;
    state
        .operators
        .change_own_password(&actor, text(&json, Field::CurrentPassword), &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/logout-everywhere`: ends every session of the caller.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    let ended = state.operators.logout_everywhere(&actor).await?;
    let mut response = Json(serde_json::json!({ "sessions_ended": ended })).into_response();
    if let Ok(v) = HeaderValue::from_str(&state.sessions.clearing_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}
