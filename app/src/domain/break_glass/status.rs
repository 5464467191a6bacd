//! The status every client sees: the JSON of `GET /api/break-glass/status` and of the SSE
//! `state` event.

use super::machine::{AckState, Lifecycle, Window};
use super::scope::BypassScope;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Inactive,
    /// A request waits for a second operator's approval.
    Requested,
    Active,
    CoolingDown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassStatus {
    pub state: Phase,
    pub active: bool,
    pub activated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub remaining_seconds: i64,
    pub reason: Option<String>,
    pub duration_minutes: Option<u32>,
    pub activated_by: Option<String>,
    /// When a second operator's acknowledgement of the open window is due.
    #[serde(default)]
    pub ack_due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Past `ack_due_at` with no acknowledgement: escalated.
    #[serde(default)]
    pub ack_overdue: bool,
    pub cool_down_until: Option<DateTime<Utc>>,
    pub cool_down_remaining_seconds: i64,
    /// The waiting request (with `reason` and `duration_minutes`): who asked, when, and by
    /// when a second operator must decide.
    #[serde(default)]
    pub requested_by: Option<String>,
    #[serde(default)]
    pub requested_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub decide_by: Option<DateTime<Utc>>,
    #[serde(default)]
    pub decide_remaining_seconds: i64,
    /// The request overrides the review gate: this earlier window still waits for review.
    #[serde(default)]
    pub overrides_review_of: Option<i64>,
    /// The policy refuses activation while an earlier window waits for review, unless a
    /// second operator approves a request (an override).
    #[serde(default)]
    pub review_gate: bool,
    /// An extension of the open window waiting for a second operator's approval.
    #[serde(default)]
    pub extension_requested_by: Option<String>,
    #[serde(default)]
    pub extension_minutes: Option<u32>,
    #[serde(default)]
    pub extension_reason: Option<String>,
    #[serde(default)]
    pub extension_decide_by: Option<DateTime<Utc>>,
    /// The policy: an activation must be requested and approved by a second operator.
    #[serde(default)]
    pub approval_required: bool,
    /// What the open (or requested) window bypasses, and the same in words.
    #[serde(default)]
    pub scope: Option<BypassScope>,
    #[serde(default)]
    pub scope_text: Option<String>,
    /// The open window is a drill: nothing is bypassed.
    #[serde(default)]
    pub drill: bool,
    /// When the last drill started, and whether that is longer ago than the policy wants.
    #[serde(default)]
    pub last_drill_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub drill_overdue: bool,
    pub server_time: DateTime<Utc>,
    /// This replica has lost its link to the others (see `replication`): what it shows may be
    /// out of date, and it refuses to activate until it reconnects.
    #[serde(default)]
    pub degraded: bool,
}

/// Whole seconds from `now` to `until`, rounded up so that a countdown reaches 0 only at the end.
pub fn seconds_until(now: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
    let ms = (until - now).num_milliseconds().max(0);
    (ms + 999) / 1000
}

impl BreakGlassStatus {
    pub fn of(lifecycle: &Lifecycle, now: DateTime<Utc>) -> Self {
        let inactive = Self {
            state: Phase::Inactive,
            active: false,
            activated_at: None,
            expires_at: None,
            remaining_seconds: 0,
            reason: None,
            duration_minutes: None,
            activated_by: None,
            ack_due_at: None,
            acknowledged_by: None,
            acknowledged_at: None,
            ack_overdue: false,
            cool_down_until: None,
            cool_down_remaining_seconds: 0,
            requested_by: None,
            requested_at: None,
            decide_by: None,
            decide_remaining_seconds: 0,
            overrides_review_of: None,
            review_gate: false,
            extension_requested_by: None,
            extension_minutes: None,
            extension_reason: None,
            extension_decide_by: None,
            approval_required: false,
            scope: None,
            scope_text: None,
            drill: false,
            last_drill_at: None,
            drill_overdue: false,
            server_time: now,
            degraded: false,
        };
        match lifecycle {
            Lifecycle::Inactive => inactive,
            Lifecycle::Active(w) => Self {
                state: Phase::Active,
                active: true,
                activated_at: Some(w.activated_at),
                expires_at: Some(w.expires_at),
                remaining_seconds: seconds_until(now, w.expires_at),
                reason: Some(w.reason.as_str().to_owned()),
                duration_minutes: Some(w.duration.minutes()),
                activated_by: Some(w.activated_by.clone()),
                ack_due_at: Some(w.acknowledgement.due_at),
                acknowledged_by: match &w.acknowledgement.state {
                    AckState::Acknowledged { by, .. } => Some(by.clone()),
                    _ => None,
                },
                acknowledged_at: match &w.acknowledgement.state {
                    AckState::Acknowledged { at, .. } => Some(*at),
                    _ => None,
                },
                ack_overdue: w.acknowledgement.state == AckState::Overdue,
                extension_requested_by: w
                    .extension_request
                    .as_ref()
                    .map(|x| x.requested_by.clone()),
                extension_minutes: w.extension_request.as_ref().map(|x| x.minutes.minutes()),
                extension_reason: w
                    .extension_request
                    .as_ref()
                    .map(|x| x.reason.as_str().to_owned()),
                extension_decide_by: w.extension_request.as_ref().map(|x| x.decide_by),
                scope: Some(w.scope.clone()),
                scope_text: Some(w.scope.describe()),
                drill: w.drill,
                ..inactive
            },
            Lifecycle::Requested(r) => Self {
                state: Phase::Requested,
                reason: Some(r.reason.as_str().to_owned()),
                duration_minutes: Some(r.duration.minutes()),
                requested_by: Some(r.requested_by.clone()),
                requested_at: Some(r.requested_at),
                decide_by: Some(r.decide_by),
                decide_remaining_seconds: seconds_until(now, r.decide_by),
                overrides_review_of: r.overrides_review_of,
                scope: Some(r.scope.clone()),
                scope_text: Some(r.scope.describe()),
                ..inactive
            },
            Lifecycle::CoolingDown { until } => Self {
                state: Phase::CoolingDown,
                cool_down_until: Some(*until),
                cool_down_remaining_seconds: seconds_until(now, *until),
                ..inactive
            },
        }
    }
}

/// What an operator's "Deactivate Now" reports back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivationSummary {
    pub duration_actual_minutes: i64,
    pub unscanned_traffic: i64,
    pub ended_at: DateTime<Utc>,
}

/// Minutes a window was active, rounded up: a window of 20 seconds was active for 1 minute.
pub fn active_minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let ms = (to - from).num_milliseconds().max(0);
    (ms + 59_999) / 60_000
}

/// The window an activation opened: the JSON of a successful `POST /api/break-glass/activate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivatedWindow {
    pub id: i64,
    pub activated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub duration_minutes: u32,
    pub reason: String,
    pub activated_by: String,
    /// What it bypasses, in words.
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub drill: bool,
}

impl ActivatedWindow {
    pub fn new(id: i64, w: &Window) -> Self {
        Self {
            id,
            activated_at: w.activated_at,
            expires_at: w.expires_at,
            duration_minutes: w.duration.minutes(),
            reason: w.reason.as_str().to_owned(),
            activated_by: w.activated_by.clone(),
            scope: w.scope.describe(),
            drill: w.drill,
        }
    }
}
