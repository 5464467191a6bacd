//! Health checks for load balancers and orchestrators; public, and they say nothing secret.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::time::Duration;

/// `GET /healthz`: the process is up and serving.
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers within a second and, with several replicas, this one
/// hears the others; 503 otherwise (`degraded`), so that a load balancer prefers the replicas
/// that know the current break-glass state.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let link = *state.link.borrow();
    let probe = sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(&state.pool);
    let database = match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Ok(_)) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            "unreachable"
        }
        Err(_) => "timed out",
    };
    let ready = database == "ok" && !link.degraded();
    let status = match (ready, link.degraded()) {
        (true, _) => "ready",
        (false, true) => "degraded",
        (false, false) => "not_ready",
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({
            "status": status,
            "database": database,
            "replication": link.as_str(),
        })),
    )
}
