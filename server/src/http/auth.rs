use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::operators::LoginRequest;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let raw: LoginRequest = super::json::parse(&headers, &body)?;
    let ip = addr.ip().to_string();
    let (operator, token) = state.sessions.login(raw, Some(&ip)).await?;
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
