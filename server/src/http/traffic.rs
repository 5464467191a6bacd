use super::{AnyCaller, ApiError, Caller};
use crate::state::AppState;
use app::domain::traffic::{Cursor, TrafficFilter, TrafficPage, MAX_PAGE};
use app::domain::AppError;
use app::domain::{Permission, Reader};
use axum::body::{Body, Bytes};
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
    Caller(actor): Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<TrafficPage>, ApiError> {
    let filter = filter(&query)?;
    Ok(Json(
        app::server::traffic::page(&state.pool, &actor, &filter).await?,
    ))
}

/// `GET /api/traffic.csv` with the same filters: every matching row, streamed a page at a
/// time (keyset cursor, so each row once) so that an export of millions of rows holds one page
/// in memory. A database error mid-export aborts the response, which the client sees as an
/// incomplete download rather than a short file.
pub async fn csv(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut filter = filter(&query)?;
    // Refused before the download starts, not as an aborted one.
    actor.require(Permission::TrafficRead)?;
    filter.limit = MAX_PAGE;
    filter.cursor = None;
    let pages = futures::stream::try_unfold(
        (state.pool, actor, Some(filter), true),
        |(pool, actor, filter, header)| async move {
            let Some(mut filter) = filter else {
                return Ok(None);
            };
            let page = app::server::traffic::page(&pool, &actor, &filter)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "traffic export aborted");
                    std::io::Error::other(e.to_string())
                })?;
            let mut out = String::new();
            app::domain::traffic::write_csv(&page.records, &mut out, header);
            let next = match page.next_cursor {
                Some(c) => {
                    let cursor = Cursor::decode(&c, filter.sort)
                        .map_err(|e| std::io::Error::other(e.message))?;
                    filter.cursor = Some(cursor);
                    Some(filter)
                }
                None => None,
            };
            Ok::<_, std::io::Error>(Some((Bytes::from(out), (pool, actor, next, false))))
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"breakglass-traffic.csv\"",
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

/// `POST /api/proxy/ingest`: a traffic record from another proxy (e.g. the LiteLLM callback),
/// authenticated by a gateway API key. 201 with the record's id.
pub async fn ingest(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Reader::ApiKey(key) = reader else {
        return Err(AppError::Forbidden("ingest traffic without an API key".into()).into());
    };
    key.require(app::domain::Scope::Ingest)?;
    let api_key_id = key.id;
    let json = super::json::object(&headers, &body)?;
    let record = app::server::traffic::ingested(&json, api_key_id, state.clock.now())?;
    let id = app::server::traffic::insert(&state.pool, &record)
        .await
        .map_err(AppError::from)?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}
