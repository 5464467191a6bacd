//! breakglass: the LLM security shield's emergency bypass. This crate holds the shared types
//! (compiled for the browser and the server), the components, and the server functions.

#![recursion_limit = "256"]

pub mod domain;
#[cfg(feature = "ssr")]
pub mod server;
pub mod ui;

pub use ui::{shell, App};
