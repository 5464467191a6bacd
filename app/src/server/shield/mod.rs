//! The shield on the server: the compiled rule pack, the model, the disguise views, and the
//! stored mode. (What a scan finds and how it is judged is pure: `crate::domain::shield`.)

mod disguise;
pub mod mode;
pub mod model;
mod rule_checks;
mod scanner;
mod spacing;

pub use disguise::fold;
pub use mode::{ModeSetting, SETTING};
pub use scanner::{RulePackError, Shield, DATA_CATEGORIES, MODEL_RULE};
