//! What both targets compile with no I/O: the rules of the product's inputs. (The move of the
//! other pure types here is under way.)

mod field;

pub use field::{Field, FieldError};
