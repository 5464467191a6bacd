use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::alerts::Alert;
use axum::extract::State;
use axum::Json;

/// `GET /api/alerts`: the newest 200 alerts, for every logged-in role (as on the Alerts page).
pub async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<Vec<Alert>>, ApiError> {
    Ok(Json(
        app::server::alerts::list(&state.pool, &actor, None, 200).await?,
    ))
}
