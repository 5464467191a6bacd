//! The shield mode: OBSERVE logs verdicts and rejects nothing; BLOCK rejects BLOCK verdicts.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ShieldMode {
    #[default]
    Observe,
    Block,
}

impl ShieldMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ShieldMode::Observe => "OBSERVE",
            ShieldMode::Block => "BLOCK",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, crate::domain::FieldError> {
        match raw {
            "OBSERVE" => Ok(ShieldMode::Observe),
            "BLOCK" => Ok(ShieldMode::Block),
            _ => Err(crate::domain::FieldError::new(
                crate::domain::Field::Mode,
                "Mode must be OBSERVE or BLOCK",
            )),
        }
    }
}
