use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::review::{Review, ReviewNotes};
use app::domain::{Field, FieldError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

fn window_id(raw: &str) -> Result<i64, FieldError> {
    raw.parse().map_err(|_| {
        FieldError::new(
            Field::Id,
            "The window id in the path must be a whole number",
        )
    })
}

async fn load(state: &AppState, actor: &app::domain::Actor, id: &str) -> Result<Review, ApiError> {
    Ok(state.reviews.load(actor, window_id(id)?).await?)
}

/// `GET /api/reviews/{id}`: the review of an ended window, as JSON.
pub async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Review>, ApiError> {
    Ok(Json(load(&state, &actor, &id).await?))
}

/// `GET /api/reviews/{id}/report.md`: the review as a Markdown report, for the incident log.
pub async fn markdown(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let review = load(&state, &actor, &id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"break-glass-window-{}-review.md\"",
                    review.window.id
                ),
            ),
        ],
        review.to_markdown(),
    )
        .into_response())
}

/// `GET /api/reviews/{id}/report.json`: the same, as a JSON download.
pub async fn json_report(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let review = load(&state, &actor, &id).await?;
    let disposition = format!(
        "attachment; filename=\"break-glass-window-{}-review.json\"",
        review.window.id
    );
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(review)).into_response())
}

/// `POST /api/reviews/{id}/sign-off {"notes"}`: marks the window reviewed (audited).
pub async fn sign_off(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Review>, ApiError> {
    let json = super::json::object(&headers, &body)?;
    let id = window_id(&id)?;
    let notes = ReviewNotes::parse(
        json.get("notes")
            .and_then(|v| v.as_str())
            .unwrap_or_default(),
    )?;
    Ok(Json(state.reviews.sign_off(&actor, id, &notes).await?))
}
