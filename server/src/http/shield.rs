use super::{AnyCaller, ApiError, Caller};
use crate::state::AppState;
use app::domain::shield::{ScanResult, ShieldMode};
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

/// The longest text one scan accepts, in characters.
pub const MAX_SCAN_CHARS: usize = 1_000_000;

/// A scan's result and the mode in force, so that a proxy that calls the shield knows
/// whether to refuse a BLOCK verdict.
#[derive(serde::Serialize)]
pub struct ScanAnswer {
    #[serde(flatten)]
    result: ScanResult,
    mode: ShieldMode,
}

/// `POST /api/shield/scan {text}`: the shield's verdict for any text, for other tools.
pub async fn scan(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ScanAnswer>, ApiError> {
    reader.require_scope(app::domain::Scope::ShieldScan)?;
    let json = super::json::object(&headers, &body)?;
    let text = json
        .get("text")
        .and_then(|v| v.as_str())
        .ok_or_else(|| FieldError::new(Field::Text, "Text is required and must be a string"))
        .map_err(app::domain::AppError::from)?;
    if text.chars().count() > MAX_SCAN_CHARS {
        return Err(app::domain::AppError::from(FieldError::new(
            Field::Text,
            format!("Text must be at most {MAX_SCAN_CHARS} characters"),
        ))
        .into());
    }
    Ok(Json(ScanAnswer {
        result: state.shield.scan(text),
        mode: state.shield_mode.current(),
    }))
}

#[derive(serde::Serialize)]
pub struct ModeBody {
    mode: ShieldMode,
}

pub async fn mode(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
) -> Result<Json<ModeBody>, ApiError> {
    Ok(Json(ModeBody {
        mode: state.shield_mode.read(&reader)?,
    }))
}

/// `PUT /api/shield/mode {mode: OBSERVE | BLOCK}`: stored, audited, then applied to the very
/// next gateway request.
pub async fn set_mode(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ModeBody>, ApiError> {
    let json = super::json::object(&headers, &body)?;
    let mode = ShieldMode::parse(
        json.get("mode")
            .and_then(|v| v.as_str())
            .unwrap_or_default(),
    )
    .map_err(app::domain::AppError::from)?;
    state.shield_mode.set(&actor, mode).await?;
    Ok(Json(ModeBody { mode }))
}
