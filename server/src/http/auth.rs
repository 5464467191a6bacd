use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::AppError;
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;

fn text_field(json: &serde_json::Value, field: Field) -> Result<&str, AppError> {
    json.get(field.as_str())
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            let name = if field == Field::Username {
                "Username"
            } else {
                "Password"
            };
            FieldError::new(field, format!("{name} is required (text)")).into()
        })
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json = super::json::object(&headers, &body)?;
    let username = text_field(&json, Field::Username)?;
    let password = text_field(&json, Field::Password)?;
    let ip = addr.ip().to_string();
    let (operator, token) = state
        .sessions
        .login(username.trim(), password, Some(&ip))
        .await?;
    let cookie = state.sessions.cookie(&token);
    let mut response = Json(operator).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Response, ApiError> {
    state
        .sessions
        .logout(&actor.token, &actor.operator, actor.source_addr.as_deref())
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&state.sessions.clearing_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}
