//! A window that has ended, as its review reads it, and the review's sign-off.

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
    pub reviewed: Option<SignOff>,
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
}
