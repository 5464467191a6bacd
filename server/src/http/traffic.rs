use super::{ApiError, Caller, Reader};
use app::error::AppError;
use app::state::AppState;
use app::traffic::{Cursor, TrafficFilter, TrafficPage, MAX_PAGE};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

fn filter(query: &HashMap<String, String>) -> Result<TrafficFilter, AppError> {
    Ok(TrafficFilter::parse(|k| query.get(k).cloned())?)
}

/// `GET /api/traffic?source&model&provider&verdict&min_score&from&to&sort&cursor&limit`
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<TrafficPage>, ApiError> {
    let filter = filter(&query)?;
    Ok(Json(
        app::traffic::page(&state.pool, &filter)
            .await
            .map_err(AppError::from)?,
    ))
}

/// The most rows one export writes.
const EXPORT_LIMIT: usize = 100_000;

/// `GET /api/traffic.csv` with the same filters: every matching row, up to 100,000.
pub async fn csv(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut filter = filter(&query)?;
    filter.limit = MAX_PAGE;
    filter.cursor = None;
    let mut out = String::new();
    let mut written = 0;
    loop {
        let page = app::traffic::page(&state.pool, &filter)
            .await
            .map_err(AppError::from)?;
        app::traffic::write_csv(&page.records, &mut out, written == 0);
        written += page.records.len();
        match page.next_cursor {
            Some(c) if written < EXPORT_LIMIT => {
                filter.cursor = Some(Cursor::decode(&c, filter.sort)?);
            }
            _ => break,
        }
    }
    if written == 0 {
        app::traffic::write_csv(&[], &mut out, true);
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"breakglass-traffic.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// `POST /api/proxy/ingest`: a traffic record from another proxy (e.g. the LiteLLM callback),
/// authenticated by a gateway API key. 201 with the record's id.
pub async fn ingest(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Reader::ApiKey(key) = reader else {
        return Err(AppError::Forbidden("ingest traffic without an API key".into()).into());
    };
    key.require(app::api_keys::Scope::Ingest)?;
    let api_key_id = key.id;
    let json = super::auth::json_body(&headers, &body)?;
    let record = app::traffic::ingested(&json, api_key_id, state.clock.now())?;
    let id = app::traffic::insert(&state.pool, &record)
        .await
        .map_err(AppError::from)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}
