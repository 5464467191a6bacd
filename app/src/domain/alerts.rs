//! Alerts: raised by break-glass (and later the gateway and the watcher), worked through
//! OPEN -> ACKNOWLEDGED -> RESOLVED.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "OPEN",
            AlertStatus::Acknowledged => "ACKNOWLEDGED",
            AlertStatus::Resolved => "RESOLVED",
        }
    }

    /// The lifecycle: an open alert may be acknowledged or resolved, an acknowledged one
    /// resolved; a resolved alert stays resolved.
    pub fn may_become(self, next: AlertStatus) -> bool {
        matches!(
            (self, next),
            (AlertStatus::Open, AlertStatus::Acknowledged)
                | (AlertStatus::Open, AlertStatus::Resolved)
                | (AlertStatus::Acknowledged, AlertStatus::Resolved)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub severity: Severity,
    pub source: String,
    pub title: String,
    pub message: String,
    pub status: AlertStatus,
    pub window_id: Option<i64>,
    /// Where to look: the Traffic Monitor filtered to a finding, or a window's review.
    pub link: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

/// The gateway's alert when LiteLLM cannot be reached.
pub const SOURCE_GATEWAY: &str = "gateway";
pub const SOURCE_AUTH: &str = "auth";
pub const FAILED_LOGIN_BURST: &str = "Burst of failed logins";
pub const LITELLM_UNREACHABLE: &str = "LiteLLM unreachable";

/// What an operator can do to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    Acknowledge,
    Resolve,
}

impl AlertAction {
    pub fn target(self) -> AlertStatus {
        match self {
            AlertAction::Acknowledge => AlertStatus::Acknowledged,
            AlertAction::Resolve => AlertStatus::Resolved,
        }
    }
}
