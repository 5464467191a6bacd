//! The HTTP surface: the JSON API, the event stream, the Leptos pages and server functions, and
//! the guards in front of them.

mod alerts;
mod api_keys;
mod audit;
mod auth;
mod break_glass;
mod events;
mod guard;
mod operators;
mod review;
mod shield;
mod traffic;
mod watcher;

use app::auth::Actor;
use app::error::AppError;
use app::state::AppState;
use app::{shell, App};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;

pub fn router(state: AppState, gateway: crate::gateway::Gateway) -> Router {
    let routes = generate_route_list(App);
    let api = Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route(
            "/api/auth/logout-everywhere",
            post(operators::logout_everywhere),
        )
        .route("/api/auth/password", post(operators::change_own_password))
        .route(
            "/api/operators",
            get(operators::list).post(operators::create),
        )
        .route("/api/operators/{id}/role", post(operators::set_role))
        .route("/api/operators/{id}/disable", post(operators::disable))
        .route("/api/operators/{id}/enable", post(operators::enable))
        .route(
            "/api/operators/{id}/password",
            post(operators::reset_password),
        )
        .route("/api/break-glass/status", get(break_glass::status))
        .route("/api/break-glass/activate", post(break_glass::activate))
        .route("/api/break-glass/deactivate", post(break_glass::deactivate))
        .route("/api/shield/scan", post(shield::scan))
        .route("/api/shield/mode", get(shield::mode).put(shield::set_mode))
        .route("/api/keys", get(api_keys::list).post(api_keys::create))
        .route("/api/keys/{id}/revoke", post(api_keys::revoke))
        .route("/api/proxy/ingest", post(traffic::ingest))
        .route("/api/traffic", get(traffic::list))
        .route("/api/traffic.csv", get(traffic::csv))
        .route("/api/alerts", get(alerts::list))
        .route("/api/audit", get(audit::list))
        .route("/api/watcher/status", get(watcher::status))
        .route("/api/watcher", post(watcher::control))
        .route("/api/reviews/{id}", get(review::show))
        .route("/api/reviews/{id}/report.md", get(review::markdown))
        .route("/api/reviews/{id}/report.json", get(review::json_report))
        .route("/api/reviews/{id}/sign-off", post(review::sign_off))
        .route("/api/events", get(events::stream))
        .route("/events-worker.js", get(events::worker_script));
    let leptos_options = state.leptos_options.clone();
    let context_state = state.clone();
    Router::new()
        .merge(api)
        .merge(gateway.router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::pages_need_login,
        ))
        .layer(middleware::from_fn(guard::same_origin_writes))
        .layer(middleware::from_fn(guard::security_headers))
        .with_state(state)
}

/// An [`AppError`] as a JSON response with the error's status code.
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(value: AppError) -> Self {
        Self(value)
    }
}

impl From<app::break_glass::FieldError> for ApiError {
    fn from(value: app::break_glass::FieldError) -> Self {
        Self(value.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.0.to_json())).into_response();
        if let Some(seconds) = self.0.retry_after_seconds() {
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A caller of a route that tools may use too: an operator's session, or a gateway API key
/// (`Authorization: Bearer`); 401 otherwise.
pub enum Reader {
    Operator,
    ApiKey(i64),
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match bearer {
            Some(secret) => {
                match app::api_keys::authenticate(&state.pool, secret.trim(), state.clock.now())
                    .await
                    .map_err(AppError::from)?
                {
                    Some(id) => Ok(Reader::ApiKey(id)),
                    None => Err(AppError::Unauthorized.into()),
                }
            }
            None => {
                Caller::from_request_parts(parts, state).await?;
                Ok(Reader::Operator)
            }
        }
    }
}

/// The logged-in caller of a JSON API route; 401 otherwise.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Caller(
            app::auth::actor_from_headers(state, &parts.headers, addr).await?,
        ))
    }
}
