use super::{ApiError, Caller};
use app::break_glass::{Field, FieldError};
use app::error::AppError;
use app::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;

/// The body of a JSON API request: `Content-Type: application/json` and a JSON object.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, AppError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(FieldError::new(
            Field::Body,
            "The request body must be JSON (Content-Type: application/json)",
        )
        .into());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(FieldError::new(Field::Body, "The request body must be a JSON object").into()),
        Err(e) => Err(FieldError::new(
            Field::Body,
            format!("The request body is not valid JSON: {e}"),
        )
        .into()),
    }
}

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
    let json = json_body(&headers, &body)?;
    let username = text_field(&json, Field::Username)?;
    let password = text_field(&json, Field::Password)?;
    let ip = addr.ip().to_string();
    let (operator, token) = app::auth::login(&state, username.trim(), password, Some(&ip)).await?;
    let cookie = app::auth::session_cookie(
        &token,
        state.settings.session_lifetime,
        state.settings.secure_cookies,
    );
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
    app::auth::logout(
        &state,
        &actor.token,
        &actor.operator,
        actor.source_addr.as_deref(),
    )
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&app::auth::clearing_cookie(state.settings.secure_cookies))
    {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}
