//! What only the server compiles: the store (one module per table, which alone writes SQL for
//! it) and the services around it, each given its narrow dependencies.

pub mod alerts;
pub mod api_keys;
pub mod audit_trail;
pub mod auth;
pub mod break_glass;
pub mod clock;
pub mod database;
pub mod events;
pub mod login_throttle;
pub mod notifications;
pub mod operators;
pub mod review;
pub mod secrets;
pub mod shield;
pub mod store;
pub mod traffic;
pub mod watcher;

/// Sets the HTTP status of a failed server function to the error's own, so that the UI's calls
/// answer like the JSON API does. Only a call of the function itself: a page rendered on the
/// server runs the same functions for its resources, and a part of the page that the caller
/// may not read must not turn the whole page into an error.
pub fn server_fn_result<T>(
    result: Result<T, crate::domain::AppError>,
) -> Result<T, crate::domain::AppError> {
    use leptos::prelude::use_context;
    if let Err(e) = &result {
        let called = use_context::<http::request::Parts>()
            .is_some_and(|parts| parts.uri.path().starts_with(SERVER_FN_PREFIX));
        if let (true, Some(opts)) = (called, use_context::<leptos_axum::ResponseOptions>()) {
            if let Ok(code) = http::StatusCode::from_u16(e.status_code()) {
                opts.set_status(code);
            }
        }
    }
    result
}

/// Where server functions are served (`/api/<name><hash>`); no page lives under it.
const SERVER_FN_PREFIX: &str = "/api/";

/// The page's Content-Security-Policy: scripts only from this origin or inline with this
/// response's nonce (the hydration scripts carry it), WebAssembly compiled, nothing framed.
pub fn content_security_policy() {
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
    ) {
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        if let Ok(value) = http::HeaderValue::from_str(&policy) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}
