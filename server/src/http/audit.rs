use super::{AnyCaller, ApiError};
use crate::state::AppState;
use app::domain::audit::{AuditFilter, AuditPage};
use axum::extract::{Query, State};
use axum::Json;
use std::collections::HashMap;

/// `GET /api/audit?action&actor&from&to&order&cursor&limit`: one page of the audit trail, for
/// roles that may read it and for API keys with the `audit:read` scope (e.g. a SIEM, which
/// pulls with `order=oldest` and the last `next_cursor`).
pub async fn list(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    let filter = AuditFilter::parse(|k| query.get(k).cloned())?;
    Ok(Json(
        app::server::audit_trail::list(&state.pool, &reader, &filter).await?,
    ))
}

/// `GET /api/audit/verify`: checks the whole hash chain of the trail and names the first entry
/// that does not fit (same access as the trail).
pub async fn verify(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
) -> Result<Json<app::server::audit_trail::ChainCheck>, ApiError> {
    Ok(Json(
        app::server::audit_trail::verify(
            &state.pool,
            &reader,
            state.audit_checkpoints.as_deref().map(|p| p.as_path()),
        )
        .await?,
    ))
}

/// `GET /api/audit/export?cursor&limit`: entries after `cursor`, oldest first, as JSON lines
/// with their chain links (`limit` 1 to 1,000, default 100). `X-Next-Cursor` is the id to pass
/// as `cursor` next time (the same when nothing new was written).
pub async fn export(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let filter = AuditFilter::parse(|k| match k {
        "cursor" | "limit" => query.get(k).cloned(),
        _ => None,
    })?;
    let entries =
        app::server::audit_trail::export(&state.pool, &reader, filter.cursor, filter.limit).await?;
    let next = entries.last().map(|e| e.id).or(filter.cursor).unwrap_or(0);
    let mut body = String::new();
    for entry in &entries {
        body.push_str(&serde_json::to_string(entry).map_err(|_| app::domain::AppError::Internal)?);
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::HeaderName::from_static("x-next-cursor"),
                next.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}
