use super::{ApiError, Reader};
use app::audit::{AuditEntry, AuditFilter};
use app::auth::Permission;
use app::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use std::collections::HashMap;

/// `GET /api/audit?action=&actor=&from=&to=`: the audit trail, for roles that may read it and
/// for API keys with the `audit:read` scope (e.g. a SIEM).
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    match &reader {
        Reader::Operator(actor) => actor.require(Permission::AuditRead)?,
        Reader::ApiKey(key) => key.require(app::api_keys::Scope::AuditRead)?,
    }
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let filter = AuditFilter::from_form(get("action"), get("actor"), get("from"), get("to"))?;
    Ok(Json(
        app::audit::list(&state.pool, &filter)
            .await
            .map_err(app::error::AppError::from)?,
    ))
}
