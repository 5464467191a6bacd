//! Health checks for load balancers and orchestrators; public, and they say nothing secret.

use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::time::Duration;

/// `GET /healthz`: the process is up and serving.
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers within a second; 503 otherwise, so that a load balancer
/// sends traffic elsewhere.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let probe = sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&state.pool);
    match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready", "database": "ok" })),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            not_ready("unreachable")
        }
        Err(_) => not_ready("timed out"),
    }
}

fn not_ready(database: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": "not_ready", "database": database })),
    )
}
