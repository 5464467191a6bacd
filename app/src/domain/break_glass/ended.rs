//! A window that has ended, as its review reads it, and the review's sign-off.

use super::status::ActivatedWindow;
use super::EndKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The review page of a window.
pub fn review_path(window_id: i64) -> String {
    format!("/reviews/{window_id}")
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOff {
    pub at: DateTime<Utc>,
    pub by: String,
    pub notes: String,
}

/// An ended window, as the review shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedWindow {
    pub id: i64,
    pub activated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub reason: String,
    pub activated_by: String,
    pub ended_at: DateTime<Utc>,
    pub end_kind: EndKind,
    pub ended_by: String,
    pub unscanned_count: i64,
    /// The second operator's acknowledgement (their note in `notes`), if anyone gave it.
    #[serde(default)]
    pub acknowledged: Option<SignOff>,
    /// Whether the acknowledgement fell due unacknowledged (escalated).
    #[serde(default)]
    pub ack_overdue: bool,
    /// Every extension, oldest first; `duration_minutes` and `expires_at` include them.
    #[serde(default)]
    pub extensions: Vec<WindowExtension>,
    /// Under the approval policy (or the review gate): the request and its approval.
    #[serde(default)]
    pub approval: Option<Approval>,
    /// What it bypassed, in words ("all traffic" unless narrowed).
    #[serde(default)]
    pub scope: String,
    /// A rehearsal: nothing was bypassed.
    #[serde(default)]
    pub drill: bool,
    pub reviewed: Option<SignOff>,
}

/// How a window opened on a second operator's approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    pub approved_at: DateTime<Utc>,
    pub approved_by: String,
    pub note: String,
    /// The earlier window that still waited for its review: the approval overrode the gate.
    pub overrides_review_of: Option<i64>,
}

/// One extension of a window: who moved its end, when, by how much and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowExtension {
    pub at: DateTime<Utc>,
    pub by: String,
    pub minutes: i64,
    pub reason: String,
    pub expires_before: DateTime<Utc>,
    pub expires_after: DateTime<Utc>,
}

/// A window that ended and still waits for its review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwaitingReview {
    pub id: i64,
    pub activated_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub activated_by: String,
    pub unscanned_count: i64,
    #[serde(default)]
    pub drill: bool,
}

/// A window as the Traffic Monitor's quick picks name it: its time range, who opened it, who
/// approved and acknowledged it, and how often it was extended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPick {
    pub window: ActivatedWindow,
    pub ended_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub acknowledged_by: Option<String>,
    pub extensions: i64,
}

impl WindowPick {
    /// "sam; approved by admin; acknowledged by admin; extended twice".
    pub fn people(&self) -> String {
        let mut parts = vec![self.window.activated_by.clone()];
        if self.window.drill {
            parts.insert(0, "drill".to_owned());
        }
        match (&self.approved_by, &self.acknowledged_by) {
            (Some(approver), Some(ack)) if approver == ack => {
                parts.push(format!("approved by {approver}"))
            }
            (approver, ack) => {
                if let Some(a) = approver {
                    parts.push(format!("approved by {a}"));
                }
                match ack {
                    Some(a) => parts.push(format!("acknowledged by {a}")),
                    None => parts.push("not acknowledged".to_owned()),
                }
            }
        }
        match self.extensions {
            0 => {}
            1 => parts.push("extended once".to_owned()),
            n => parts.push(format!("extended {n} times")),
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pick_names_who_opened_approved_and_acknowledged_it() {
        let at = DateTime::UNIX_EPOCH;
        let mut pick = WindowPick {
            window: ActivatedWindow {
                id: 1,
                activated_at: at,
                expires_at: at,
                duration_minutes: 30,
                reason: "outage of the shield".into(),
                activated_by: "sam".into(),
                scope: "all traffic".into(),
                drill: false,
            },
            ended_at: None,
            approved_by: None,
            acknowledged_by: None,
            extensions: 0,
        };
        assert_eq!(pick.people(), "sam; not acknowledged");
        pick.acknowledged_by = Some("ann".into());
        pick.extensions = 2;
        assert_eq!(pick.people(), "sam; acknowledged by ann; extended 2 times");
        pick.approved_by = Some("ann".into());
        pick.extensions = 1;
        assert_eq!(pick.people(), "sam; approved by ann; extended once");
    }
}
