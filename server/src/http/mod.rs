//! The HTTP surface: the JSON API, the event stream, the Leptos pages and server functions, and
//! the guards in front of them.

pub mod access;
mod alerts;
mod api_keys;
mod audit;
mod auth;
mod break_glass;
mod events;
mod guard;
mod health;
mod metrics;
mod operators;
mod review;
mod shield;
mod traffic;
mod watcher;

use access::Access;
use app::auth::Actor;
use app::error::AppError;
use app::state::AppState;
use app::{shell, App};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{middleware, Json, Router};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;

pub fn router(state: AppState, gateway: crate::gateway::Gateway) -> Router {
    let routes = generate_route_list(App);
    let mut api = Router::new();
    let mut mounted: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for endpoint in access::ROUTES
        .iter()
        .filter(|e| e.access != Access::Gateway)
    {
        let handler = handler(endpoint);
        match mounted.iter_mut().find(|(p, _)| *p == endpoint.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => mounted.push((endpoint.path, handler)),
        }
    }
    for (path, method_router) in mounted {
        api = api.route(path, method_router);
    }
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
        .layer(axum::Extension(events::StreamSlots::default()))
        .with_state(state)
}

/// The handler of a route of `access::ROUTES`.
fn handler(endpoint: &access::Endpoint) -> MethodRouter<AppState> {
    match (endpoint.method, endpoint.path) {
        ("POST", "/api/auth/login") => post(auth::login),
        ("POST", "/api/auth/logout") => post(auth::logout),
        ("POST", "/api/auth/logout-everywhere") => post(operators::logout_everywhere),
        ("POST", "/api/auth/password") => post(operators::change_own_password),
        ("GET", "/api/operators") => get(operators::list),
        ("POST", "/api/operators") => post(operators::create),
        ("POST", "/api/operators/{id}/role") => post(operators::set_role),
        ("POST", "/api/operators/{id}/disable") => post(operators::disable),
        ("POST", "/api/operators/{id}/enable") => post(operators::enable),
        ("POST", "/api/operators/{id}/password") => post(operators::reset_password),
        ("GET", "/api/break-glass/status") => get(break_glass::status),
        ("POST", "/api/break-glass/activate") => post(break_glass::activate),
        ("POST", "/api/break-glass/deactivate") => post(break_glass::deactivate),
        ("POST", "/api/shield/scan") => post(shield::scan),
        ("GET", "/api/shield/mode") => get(shield::mode),
        ("PUT", "/api/shield/mode") => put(shield::set_mode),
        ("GET", "/api/keys") => get(api_keys::list),
        ("POST", "/api/keys") => post(api_keys::create),
        ("POST", "/api/keys/{id}/revoke") => post(api_keys::revoke),
        ("POST", "/api/proxy/ingest") => post(traffic::ingest),
        ("GET", "/api/traffic") => get(traffic::list),
        ("GET", "/api/traffic.csv") => get(traffic::csv),
        ("GET", "/api/alerts") => get(alerts::list),
        ("GET", "/api/audit") => get(audit::list),
        ("GET", "/api/watcher/status") => get(watcher::status),
        ("POST", "/api/watcher") => post(watcher::control),
        ("GET", "/api/reviews/{id}") => get(review::show),
        ("GET", "/api/reviews/{id}/report.md") => get(review::markdown),
        ("GET", "/api/reviews/{id}/report.json") => get(review::json_report),
        ("POST", "/api/reviews/{id}/sign-off") => post(review::sign_off),
        ("GET", "/api/events") => get(events::stream),
        ("GET", "/events-worker.js") => get(events::worker_script),
        ("GET", "/healthz") => get(health::live),
        ("GET", "/readyz") => get(health::ready),
        ("GET", "/metrics") => get(metrics::render),
        (method, path) => unreachable!("access::ROUTES lists {method} {path} without a handler"),
    }
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
    Operator(Actor),
    ApiKey(app::api_keys::KeyCaller),
}

impl Reader {
    /// An API key must have `scope`; an operator passes (their role decides elsewhere).
    pub fn require_scope(&self, scope: app::api_keys::Scope) -> Result<(), ApiError> {
        match self {
            Reader::Operator(_) => Ok(()),
            Reader::ApiKey(key) => Ok(key.require(scope)?),
        }
    }
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
                let key = app::api_keys::authenticate(
                    &state.pool,
                    &state.api_keys,
                    secret.trim(),
                    state.clock.now(),
                )
                .await
                .map_err(AppError::from)?
                .map_err(AppError::from)?;
                Ok(Reader::ApiKey(key))
            }
            None => {
                let Caller(actor) = Caller::from_request_parts(parts, state).await?;
                Ok(Reader::Operator(actor))
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
