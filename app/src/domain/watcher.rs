//! The Session Watcher: follows the agents' session transcripts and the traffic kept from
//! break-glass windows, and runs the shield over them after the fact.

use crate::domain::alerts::Severity;
use crate::domain::Verdict;
use crate::domain::{Field, FieldError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunState {
    Running,
    Stopped,
}

/// Something that went wrong while following the transcripts; never fatal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherError {
    pub at: DateTime<Utc>,
    pub message: String,
}

/// What `GET /api/watcher/status` answers and the Traffic Monitor shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherStatus {
    pub state: RunState,
    pub directory: String,
    pub interval_ms: u64,
    /// Whether file notifications are active (otherwise only the poll interval applies).
    pub notifications: bool,
    pub files_watched: u64,
    pub messages_scanned: u64,
    pub bypassed_rescanned: u64,
    pub malformed_lines: u64,
    /// Bytes of the watched files not read yet.
    pub backlog_bytes: u64,
    pub last_scan_at: Option<DateTime<Utc>>,
    pub error_count: u64,
    /// The most recent errors, newest first.
    pub errors: Vec<WatcherError>,
}

/// At most this many recent errors are kept for the status.
pub const RECENT_ERRORS: usize = 20;

/// How often the watcher looks at the files when no notification arrives: 1 to 60 seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInterval(u64);

impl PollInterval {
    pub const MIN_MS: u64 = 1_000;
    pub const MAX_MS: u64 = 60_000;
    pub const DEFAULT: PollInterval = PollInterval(10_000);

    pub fn parse(ms: i64) -> Result<Self, FieldError> {
        u64::try_from(ms)
            .ok()
            .filter(|ms| (Self::MIN_MS..=Self::MAX_MS).contains(ms))
            .map(PollInterval)
            .ok_or_else(|| {
                FieldError::new(
                    Field::IntervalMs,
                    "Poll interval must be from 1000 to 60000 milliseconds (1 to 60 seconds)",
                )
            })
    }

    pub fn millis(self) -> u64 {
        self.0
    }
}

/// The controls of `POST /api/watcher`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatcherAction {
    PollNow,
    SetInterval(PollInterval),
    Enable,
    Disable,
}

impl WatcherAction {
    /// Parses `{"action": ..., "interval_ms": ...}`.
    pub fn parse(action: Option<&str>, interval_ms: Option<i64>) -> Result<Self, FieldError> {
        match action {
            Some("poll_now") => Ok(WatcherAction::PollNow),
            Some("enable") => Ok(WatcherAction::Enable),
            Some("disable") => Ok(WatcherAction::Disable),
            Some("set_interval") => match interval_ms {
                Some(ms) => PollInterval::parse(ms).map(WatcherAction::SetInterval),
                None => Err(FieldError::new(
                    Field::IntervalMs,
                    "set_interval needs interval_ms: 1000 to 60000 milliseconds",
                )),
            },
            _ => Err(FieldError::new(
                Field::Action,
                "Action must be poll_now, set_interval, enable or disable",
            )),
        }
    }
}

/// The alert a finding raises: BLOCK from 80 CRITICAL, from 60 HIGH, else MEDIUM; REVIEW from
/// 50 HIGH, from 25 MEDIUM, else LOW; nothing for ALLOW.
pub fn finding_severity(verdict: Verdict, score: u8) -> Option<Severity> {
    match verdict {
        Verdict::Block if score >= 80 => Some(Severity::Critical),
        Verdict::Block if score >= 60 => Some(Severity::High),
        Verdict::Block => Some(Severity::Medium),
        Verdict::Review if score >= 50 => Some(Severity::High),
        Verdict::Review if score >= 25 => Some(Severity::Medium),
        Verdict::Review => Some(Severity::Low),
        Verdict::Allow | Verdict::Bypassed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_follow_verdict_and_score() {
        for (verdict, score, severity) in [
            (Verdict::Block, 100, Some(Severity::Critical)),
            (Verdict::Block, 80, Some(Severity::Critical)),
            (Verdict::Block, 79, Some(Severity::High)),
            (Verdict::Block, 60, Some(Severity::High)),
            (Verdict::Block, 59, Some(Severity::Medium)),
            (Verdict::Block, 0, Some(Severity::Medium)),
            (Verdict::Review, 50, Some(Severity::High)),
            (Verdict::Review, 49, Some(Severity::Medium)),
            (Verdict::Review, 25, Some(Severity::Medium)),
            (Verdict::Review, 24, Some(Severity::Low)),
            (Verdict::Allow, 10, None),
        ] {
            assert_eq!(
                finding_severity(verdict, score),
                severity,
                "{verdict:?} {score}"
            );
        }
    }

    #[test]
    fn the_interval_is_one_to_sixty_seconds() {
        assert_eq!(PollInterval::parse(1_000).unwrap().millis(), 1_000);
        assert_eq!(PollInterval::parse(60_000).unwrap().millis(), 60_000);
        for bad in [999, 60_001, -5] {
            assert_eq!(
                PollInterval::parse(bad).unwrap_err().field,
                Field::IntervalMs
            );
        }
    }

    #[test]
    fn actions_are_parsed_with_their_fields() {
        assert_eq!(
            WatcherAction::parse(Some("set_interval"), Some(5_000)),
            Ok(WatcherAction::SetInterval(PollInterval(5_000)))
        );
        assert_eq!(
            WatcherAction::parse(Some("set_interval"), None)
                .unwrap_err()
                .field,
            Field::IntervalMs
        );
        assert_eq!(
            WatcherAction::parse(Some("restart"), None)
                .unwrap_err()
                .field,
            Field::Action
        );
        assert_eq!(
            WatcherAction::parse(Some("poll_now"), None),
            Ok(WatcherAction::PollNow)
        );
    }
}
