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
