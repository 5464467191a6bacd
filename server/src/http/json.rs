//! The JSON API's request bodies.

use app::domain::AppError;
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::http::{header, HeaderMap};

/// The body of a JSON API request: `Content-Type: application/json` and a JSON object.
pub fn object(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, AppError> {
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

/// The body as an action's raw input type (`ActivationRequest`, `KeyRequest`): a JSON object
/// whose fields may each be missing or mistyped, for the action's one conversion to judge.
pub fn parse<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, AppError> {
    serde_json::from_value(object(headers, body)?).map_err(|e| {
        FieldError::new(
            Field::Body,
            format!("The request body does not fit this action: {e}"),
        )
        .into()
    })
}
