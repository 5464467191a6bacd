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
mod json;
mod metrics;
mod notifications;
mod operators;
mod review;
mod shield;
mod traffic;
mod watcher;

use crate::state::AppState;
use access::Handler;
use app::domain::AppError;
use app::domain::{Actor, Reader};
use app::{shell, App};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{middleware, Json, Router};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;

pub fn router(state: AppState, gateway: crate::gateway::Gateway) -> Router {
    let routes = generate_route_list(App);
    let pages = guard::Pages::new(access::PAGES);
    // Every route of `access::ROUTES`, with the handler the table names: the adapters' on
    // this state, the gateway's on its own.
    let mut api: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    let mut agents: Vec<(&str, MethodRouter<crate::gateway::Gateway>)> = Vec::new();
    for endpoint in access::ROUTES {
        match endpoint.handler {
            Handler::Api(handler) => mount(&mut api, endpoint.path, handler()),
            Handler::Agent(handler) => mount(&mut agents, endpoint.path, handler()),
        }
    }
    let api = api
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        });
    let agents = agents
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        .with_state(gateway);
    let leptos_options = state.leptos_options.clone();
    let context_state = state.clone();
    Router::new()
        .merge(api)
        .merge(agents)
        .leptos_routes_with_context(
            &state,
            routes,
            move || context_state.provide_services(),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(
            (state.clone(), pages),
            guard::pages_need_login,
        ))
        .layer(middleware::from_fn(guard::same_origin_writes))
        .layer(middleware::from_fn(guard::security_headers))
        .layer(axum::Extension(events::StreamSlots::default()))
        .with_state(state)
}

/// Adds `methods` to the path's methods (a path can have several rows in the table).
fn mount<S: Clone + Send + Sync + 'static>(
    mounted: &mut Vec<(&'static str, MethodRouter<S>)>,
    path: &'static str,
    methods: MethodRouter<S>,
) {
    match mounted.iter_mut().find(|(p, _)| *p == path) {
        Some((_, existing)) => *existing = std::mem::take(existing).merge(methods),
        None => mounted.push((path, methods)),
    }
}

/// An [`AppError`] as a JSON response with the error's status code.
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(value: AppError) -> Self {
        Self(value)
    }
}

impl From<app::domain::FieldError> for ApiError {
    fn from(value: app::domain::FieldError) -> Self {
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

/// The caller of a route that tools may use too: an operator's session, or a gateway API key
/// (`Authorization: Bearer`); 401 otherwise.
pub struct AnyCaller(pub Reader);

impl FromRequestParts<AppState> for AnyCaller {
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
                let key = app::server::api_keys::authenticate(
                    &state.pool,
                    &state.api_keys,
                    secret.trim(),
                    state.clock.now(),
                )
                .await
                .map_err(AppError::from)?
                .map_err(AppError::from)?;
                Ok(AnyCaller(Reader::ApiKey(key)))
            }
            None => {
                let Caller(actor) = Caller::from_request_parts(parts, state).await?;
                Ok(AnyCaller(Reader::Operator(actor)))
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
            state
                .sessions
                .actor_from_headers(&parts.headers, addr)
                .await?,
        ))
    }
}
