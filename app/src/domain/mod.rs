//! What both targets compile, with no I/O: the product's types and the rules of its inputs.

mod access;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod break_glass;
mod error;
pub mod events;
mod field;
mod link;
pub mod login_throttle;
pub mod notifications;
pub mod operators;
pub mod paging;
pub mod review;
pub mod shield;
pub mod time_format;
pub mod traffic;
mod verdict;
pub mod watcher;

pub use access::{
    Actor, KeyCaller, Operator, OperatorAccount, Permission, Reader, Role, Scope, PERMISSIONS,
    ROLES, SCOPES,
};
pub use error::AppError;
pub use field::{Field, FieldError, WireField};
pub use link::Link;
pub use verdict::{Verdict, VERDICTS};
