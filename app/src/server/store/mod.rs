//! One module per table; each alone writes SQL for its table.

pub mod break_glass_requests;
pub mod break_glass_windows;
pub mod operators;
pub mod sessions;
pub mod settings;
