//! What both targets compile with no I/O: the rules of the product's inputs. (The move of the
//! other pure types here is under way.)

mod access;
pub mod break_glass;
mod error;
mod field;
mod link;
pub mod time_format;
mod verdict;

pub use access::{
    Actor, KeyCaller, Operator, OperatorAccount, Permission, Reader, Role, Scope, PERMISSIONS,
    ROLES, SCOPES,
};
pub use error::AppError;
pub use field::{Field, FieldError, WireField};
pub use link::Link;
pub use verdict::{Verdict, VERDICTS};
