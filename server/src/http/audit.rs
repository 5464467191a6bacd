use super::{ApiError, Reader};
use app::audit::{AuditFilter, AuditPage};
use app::domain::Permission;
use app::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use std::collections::HashMap;

/// `GET /api/audit?action&actor&from&to&order&cursor&limit`: one page of the audit trail, for
/// roles that may read it and for API keys with the `audit:read` scope (e.g. a SIEM, which
/// pulls with `order=oldest` and the last `next_cursor`).
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    match &reader {
        Reader::Operator(actor) => actor.require(Permission::AuditRead)?,
        Reader::ApiKey(key) => key.require(app::api_keys::Scope::AuditRead)?,
    }
    let filter = AuditFilter::parse(|k| query.get(k).cloned())?;
    Ok(Json(
        app::audit::list(&state.pool, &filter)
            .await
            .map_err(app::domain::AppError::from)?,
    ))
}
