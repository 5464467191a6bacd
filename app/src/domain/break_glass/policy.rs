//! The deployment's break-glass policy, set on the Configuration panel: how soon after an
//! activation a second operator must acknowledge the window.

use crate::domain::{Field, FieldError, WireField};
use serde::{Deserialize, Serialize};

pub const ACK_MINUTES_MAX: u32 = 240;

/// Minutes from an activation to its acknowledgement's due time: 1 to 240.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckMinutes(u32);

impl AckMinutes {
    pub fn parse(minutes: i64) -> Result<Self, FieldError> {
        match u32::try_from(minutes) {
            Ok(m) if (1..=ACK_MINUTES_MAX).contains(&m) => Ok(Self(m)),
            _ => Err(Self::rule()),
        }
    }

    fn rule() -> FieldError {
        FieldError::new(
            Field::AckMinutes,
            format!("Acknowledgement deadline must be a whole number of minutes from 1 to {ACK_MINUTES_MAX}"),
        )
    }

    pub fn minutes(self) -> u32 {
        self.0
    }

    pub fn as_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::minutes(i64::from(self.0))
    }
}

/// The policy as every reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub ack_minutes: AckMinutes,
}

/// A policy change as either door receives it: the Configuration panel's form or
/// `PUT /api/break-glass/policy`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PolicyRequest {
    #[serde(default)]
    pub ack_minutes: Option<WireField>,
}

impl TryFrom<PolicyRequest> for Policy {
    type Error = FieldError;

    fn try_from(raw: PolicyRequest) -> Result<Self, FieldError> {
        let ack_minutes = match raw.ack_minutes {
            Some(WireField::Whole(m)) => AckMinutes::parse(m)?,
            Some(WireField::Text(text)) => {
                AckMinutes::parse(text.trim().parse().map_err(|_| AckMinutes::rule())?)?
            }
            _ => return Err(AckMinutes::rule()),
        };
        Ok(Self { ack_minutes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_one_to_240_minutes_from_either_door() {
        let json = |v: serde_json::Value| {
            Policy::try_from(serde_json::from_value::<PolicyRequest>(v).unwrap())
        };
        let form = |s: &str| {
            Policy::try_from(PolicyRequest {
                ack_minutes: Some(WireField::Text(s.into())),
            })
        };
        assert_eq!(json(serde_json::json!({"ack_minutes": 5})), form(" 5 "));
        assert_eq!(form("240").unwrap().ack_minutes.minutes(), 240);
        for bad in ["0", "241", "-3", "ten", ""] {
            assert_eq!(form(bad).unwrap_err().field, Field::AckMinutes, "{bad}");
        }
        assert_eq!(
            json(serde_json::json!({})).unwrap_err(),
            form("x").unwrap_err()
        );
    }
}
