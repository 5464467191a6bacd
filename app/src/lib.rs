//! breakglass: the LLM security shield's emergency bypass. This crate holds the shared types
//! (compiled for the browser and the server), the components, and the server functions.

#![recursion_limit = "256"]

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod domain;
pub mod events;
pub mod login_throttle;
pub mod operators;
pub mod paging;
pub mod review;
pub mod shield;
pub mod traffic;
pub mod ui;
pub mod watcher;

#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod break_glass;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod database;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod settings;
#[cfg(feature = "ssr")]
pub mod state;

pub use ui::{shell, App};

/// Sets the HTTP status of a failed server function to the error's own, so that the UI's calls
/// answer like the JSON API does.
#[cfg(feature = "ssr")]
pub fn server_fn_result<T>(result: Result<T, domain::AppError>) -> Result<T, domain::AppError> {
    if let Err(e) = &result {
        if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(code) = http::StatusCode::from_u16(e.status_code()) {
                opts.set_status(code);
            }
        }
    }
    result
}
