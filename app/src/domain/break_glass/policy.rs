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
        Self::parse_as(Field::AckMinutes, minutes)
    }

    /// The same rule for another of the policy's deadlines, named as `field`.
    pub fn parse_as(field: Field, minutes: i64) -> Result<Self, FieldError> {
        match u32::try_from(minutes) {
            Ok(m) if (1..=ACK_MINUTES_MAX).contains(&m) => Ok(Self(m)),
            _ => Err(Self::rule(field)),
        }
    }

    fn rule(field: Field) -> FieldError {
        let what = match field {
            Field::ApprovalMinutes => "Approval deadline",
            _ => "Acknowledgement deadline",
        };
        FieldError::new(
            field,
            format!("{what} must be a whole number of minutes from 1 to {ACK_MINUTES_MAX}"),
        )
    }

    fn from_wire(field: Field, raw: WireField) -> Result<Self, FieldError> {
        match raw {
            WireField::Whole(m) => Self::parse_as(field, m),
            WireField::Text(text) => {
                Self::parse_as(field, text.trim().parse().map_err(|_| Self::rule(field))?)
            }
            _ => Err(Self::rule(field)),
        }
    }

    pub fn minutes(self) -> u32 {
        self.0
    }

    pub fn as_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::minutes(i64::from(self.0))
    }
}

/// How a window opens: at once, acknowledged afterwards by a second operator (the default),
/// or only once a second operator approves a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Emergency,
    Approval,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Emergency => "emergency",
            Mode::Approval => "approval",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Mode::Emergency, Mode::Approval]
            .into_iter()
            .find(|m| m.as_str() == raw)
    }
}

pub const DRILL_DAYS_MAX: u32 = 365;

/// How old the last drill may be before the Break-Glass card warns: 1 to 365 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillDays(u32);

impl DrillDays {
    pub fn parse(days: i64) -> Result<Self, FieldError> {
        match u32::try_from(days) {
            Ok(d) if (1..=DRILL_DAYS_MAX).contains(&d) => Ok(Self(d)),
            _ => Err(Self::rule()),
        }
    }

    fn rule() -> FieldError {
        FieldError::new(
            Field::DrillDays,
            format!("Drill interval must be a whole number of days from 1 to {DRILL_DAYS_MAX}"),
        )
    }

    fn from_wire(raw: WireField) -> Result<Self, FieldError> {
        match raw {
            WireField::Whole(d) => Self::parse(d),
            WireField::Text(text) => Self::parse(text.trim().parse().map_err(|_| Self::rule())?),
            _ => Err(Self::rule()),
        }
    }

    pub fn days(self) -> u32 {
        self.0
    }

    pub fn as_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.0))
    }
}

/// How often teams should rehearse when the deployment has never said.
pub const DRILL_DAYS_DEFAULT: DrillDays = DrillDays(90);

/// How long a request waits for its decision when the deployment has never said.
pub const APPROVAL_MINUTES_DEFAULT: AckMinutes = AckMinutes(15);

/// The policy as every reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub ack_minutes: AckMinutes,
    pub mode: Mode,
    /// How long a request waits for a second operator's decision.
    pub approval_minutes: AckMinutes,
    /// Refuse a new activation while an earlier window waits for its review, unless a second
    /// operator approves a request (recorded as an override).
    pub review_gate: bool,
    /// The card warns when the last drill is older than this.
    pub drill_days: DrillDays,
}

impl Policy {
    /// The emergency policy with `ack_minutes`: what a deployment starts with.
    pub fn emergency(ack_minutes: AckMinutes) -> Self {
        Self {
            ack_minutes,
            mode: Mode::Emergency,
            approval_minutes: APPROVAL_MINUTES_DEFAULT,
            review_gate: false,
            drill_days: DRILL_DAYS_DEFAULT,
        }
    }

    pub fn approval_required(&self) -> bool {
        self.mode == Mode::Approval
    }

    /// This policy with what `change` names changed, the rest kept.
    pub fn with(self, change: PolicyChange) -> Self {
        Self {
            ack_minutes: change.ack_minutes.unwrap_or(self.ack_minutes),
            mode: change.mode.unwrap_or(self.mode),
            approval_minutes: change.approval_minutes.unwrap_or(self.approval_minutes),
            review_gate: change.review_gate.unwrap_or(self.review_gate),
            drill_days: change.drill_days.unwrap_or(self.drill_days),
        }
    }
}

/// A policy change as either door receives it: the Configuration panel's form or
/// `PUT /api/break-glass/policy`. A field left out keeps its value.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PolicyRequest {
    #[serde(default)]
    pub ack_minutes: Option<WireField>,
    #[serde(default)]
    pub mode: Option<WireField>,
    #[serde(default)]
    pub approval_minutes: Option<WireField>,
    /// `true`/`false` from the API; `on`/`off` from the form.
    #[serde(default)]
    pub review_gate: Option<serde_json::Value>,
    #[serde(default)]
    pub drill_days: Option<WireField>,
}

/// What a policy change sets: at least one of its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyChange {
    pub ack_minutes: Option<AckMinutes>,
    pub mode: Option<Mode>,
    pub approval_minutes: Option<AckMinutes>,
    pub review_gate: Option<bool>,
    pub drill_days: Option<DrillDays>,
}

impl TryFrom<PolicyRequest> for PolicyChange {
    type Error = FieldError;

    fn try_from(raw: PolicyRequest) -> Result<Self, FieldError> {
        if raw.ack_minutes.is_none()
            && raw.mode.is_none()
            && raw.approval_minutes.is_none()
            && raw.review_gate.is_none()
            && raw.drill_days.is_none()
        {
            return Err(FieldError::new(
                Field::AckMinutes,
                "Give at least one of ack_minutes, mode, approval_minutes, review_gate, drill_days",
            ));
        }
        let ack_minutes = raw
            .ack_minutes
            .map(|m| AckMinutes::from_wire(Field::AckMinutes, m))
            .transpose()?;
        let mode = raw
            .mode
            .map(|m| match m {
                WireField::Text(t) => Mode::parse(t.trim()),
                _ => None,
            })
            .map(|m| {
                m.ok_or_else(|| FieldError::new(Field::Mode, "Mode must be emergency or approval"))
            })
            .transpose()?;
        let approval_minutes = raw
            .approval_minutes
            .map(|m| AckMinutes::from_wire(Field::ApprovalMinutes, m))
            .transpose()?;
        let review_gate = raw
            .review_gate
            .map(|v| match v {
                serde_json::Value::Bool(b) => Some(b),
                serde_json::Value::String(s) => match s.trim() {
                    "on" | "true" => Some(true),
                    "off" | "false" => Some(false),
                    _ => None,
                },
                _ => None,
            })
            .map(|v| {
                v.ok_or_else(|| {
                    FieldError::new(Field::ReviewGate, "Review gate must be true or false")
                })
            })
            .transpose()?;
        let drill_days = raw.drill_days.map(DrillDays::from_wire).transpose()?;
        Ok(Self {
            ack_minutes,
            mode,
            approval_minutes,
            review_gate,
            drill_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(v: serde_json::Value) -> Result<PolicyChange, FieldError> {
        PolicyChange::try_from(serde_json::from_value::<PolicyRequest>(v).unwrap())
    }

    #[test]
    fn the_deadlines_are_one_to_240_minutes_from_either_door() {
        let form = |s: &str| {
            PolicyChange::try_from(PolicyRequest {
                ack_minutes: Some(WireField::Text(s.into())),
                ..Default::default()
            })
        };
        assert_eq!(change(serde_json::json!({"ack_minutes": 5})), form(" 5 "));
        assert_eq!(
            form("240").unwrap().ack_minutes.map(AckMinutes::minutes),
            Some(240)
        );
        for bad in ["0", "241", "-3", "ten", ""] {
            assert_eq!(form(bad).unwrap_err().field, Field::AckMinutes, "{bad}");
        }
        assert_eq!(
            change(serde_json::json!({"approval_minutes": 0}))
                .unwrap_err()
                .field,
            Field::ApprovalMinutes
        );
        assert_eq!(
            change(serde_json::json!({"mode": "whenever"}))
                .unwrap_err()
                .field,
            Field::Mode
        );
        assert_eq!(
            change(serde_json::json!({})).unwrap_err().field,
            Field::AckMinutes
        );
        assert_eq!(
            change(serde_json::json!({"review_gate": "sometimes"}))
                .unwrap_err()
                .field,
            Field::ReviewGate
        );
        assert_eq!(
            change(serde_json::json!({"review_gate": true}))
                .unwrap()
                .review_gate,
            Some(true)
        );
    }

    #[test]
    fn a_change_keeps_what_it_does_not_name() {
        let before = Policy::emergency(AckMinutes::parse(20).unwrap());
        let after = before.with(change(serde_json::json!({"mode": "approval"})).unwrap());
        assert!(after.approval_required());
        assert_eq!(after.ack_minutes, before.ack_minutes);
        assert_eq!(after.approval_minutes, APPROVAL_MINUTES_DEFAULT);
        let later = after.with(change(serde_json::json!({"approval_minutes": 45})).unwrap());
        assert_eq!(
            (later.mode, later.approval_minutes.minutes()),
            (Mode::Approval, 45)
        );
    }
}
