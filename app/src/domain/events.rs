//! Server-sent events: what the server pushes to every tab.

use crate::domain::alerts::Alert;
use crate::domain::break_glass::BreakGlassStatus;
use serde::{Deserialize, Serialize};

/// The most event streams one session may hold at once. A browser shares one stream among its
/// tabs (`events-worker.js`); without shared workers each tab opens its own.
pub const MAX_STREAMS_PER_SESSION: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    Activated,
    /// A request waits for a second operator's approval.
    Requested,
    /// A request was approved: its window opened.
    Approved,
    Denied,
    /// A request nobody decided by its deadline.
    RequestLapsed,
    /// An extension of the open window waits for a second operator's approval.
    ExtensionRequested,
    Acknowledged,
    AckOverdue,
    Extended,
    Deactivated,
    Expired,
    CoolDownOver,
}

/// The `state` event: the full status (a snapshot on connect, then one per change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEvent {
    pub change: Option<StateChange>,
    pub status: BreakGlassStatus,
}

/// Every event the stream carries, with its SSE event name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    State(StateEvent),
    Alert(Alert),
}

impl ServerEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ServerEvent::State(_) => "state",
            ServerEvent::Alert(_) => "alert",
        }
    }

    pub fn data_json(&self) -> String {
        let json = match self {
            ServerEvent::State(e) => serde_json::to_string(e),
            ServerEvent::Alert(a) => serde_json::to_string(a),
        };
        json.expect("event types serialise to JSON")
    }
}
