//! The Session Watcher: follows the agents' session transcripts and the traffic kept from
//! break-glass windows, and runs the shield over them after the fact.

use crate::domain::alerts::Severity;
use crate::domain::Verdict;
use crate::domain::{Field, FieldError, WireField};
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
            .ok_or_else(Self::rule)
    }

    fn rule() -> FieldError {
        FieldError::new(
            Field::IntervalMs,
            "Poll interval must be from 1000 to 60000 milliseconds (1 to 60 seconds)",
        )
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

/// A control of the Session Watcher as either door receives it: the panel's form (the
/// interval in seconds, as an operator types it) or `POST /api/watcher` (in milliseconds). A
/// field may be missing or of the wrong type.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WatcherControlRequest {
    #[serde(default)]
    pub action: Option<WireField>,
    #[serde(default)]
    pub interval_ms: Option<WireField>,
}

impl WatcherControlRequest {
    /// The form's fields, as typed; an empty interval is none.
    pub fn from_form(action: String, interval_seconds: Option<String>) -> Self {
        let interval_ms = interval_seconds.filter(|s| !s.trim().is_empty()).map(|s| {
            match s
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|s| s.checked_mul(1000))
            {
                Some(ms) => WireField::Whole(ms),
                None => WireField::Text(s),
            }
        });
        Self {
            action: Some(WireField::Text(action)),
            interval_ms,
        }
    }
}

impl TryFrom<WatcherControlRequest> for WatcherAction {
    type Error = FieldError;

    /// The action, then the interval (which only `set_interval` reads).
    fn try_from(raw: WatcherControlRequest) -> Result<Self, FieldError> {
        let action = match raw.action {
            Some(WireField::Text(action)) => action,
            _ => String::new(),
        };
        match action.as_str() {
            "poll_now" => Ok(WatcherAction::PollNow),
            "enable" => Ok(WatcherAction::Enable),
            "disable" => Ok(WatcherAction::Disable),
            "set_interval" => match raw.interval_ms {
                Some(WireField::Whole(ms)) => {
                    PollInterval::parse(ms).map(WatcherAction::SetInterval)
                }
                None => Err(FieldError::new(
                    Field::IntervalMs,
                    "set_interval needs interval_ms: 1000 to 60000 milliseconds",
                )),
                Some(_) => Err(PollInterval::rule()),
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

    fn json(value: serde_json::Value) -> Result<WatcherAction, FieldError> {
        WatcherAction::try_from(serde_json::from_value::<WatcherControlRequest>(value).unwrap())
    }

    fn form(action: &str, seconds: Option<&str>) -> Result<WatcherAction, FieldError> {
        WatcherAction::try_from(WatcherControlRequest::from_form(
            action.into(),
            seconds.map(Into::into),
        ))
    }

    #[test]
    fn actions_are_parsed_with_their_fields_the_same_at_both_doors() {
        use serde_json::json;
        let five = Ok(WatcherAction::SetInterval(PollInterval(5_000)));
        assert_eq!(
            json(json!({"action": "set_interval", "interval_ms": 5000})),
            five
        );
        assert_eq!(form("set_interval", Some(" 5 ")), five);
        assert_eq!(
            json(json!({"action": "poll_now"})),
            Ok(WatcherAction::PollNow)
        );
        assert_eq!(form("poll_now", None), Ok(WatcherAction::PollNow));
        let field = |r: Result<WatcherAction, FieldError>| r.unwrap_err().field;
        for (json_input, form_input, named) in [
            (
                json!({"action": "restart", "interval_ms": "x"}),
                ("restart", Some("x")),
                Field::Action,
            ),
            (json!({"interval_ms": 5000}), ("", Some("5")), Field::Action),
            (
                json!({"action": "set_interval"}),
                ("set_interval", Some("")),
                Field::IntervalMs,
            ),
            (
                json!({"action": "set_interval", "interval_ms": "5s"}),
                ("set_interval", Some("5s")),
                Field::IntervalMs,
            ),
            (
                json!({"action": "set_interval", "interval_ms": 500}),
                ("set_interval", Some("0")),
                Field::IntervalMs,
            ),
        ] {
            let (action, seconds) = form_input;
            assert_eq!(field(json(json_input.clone())), named, "{json_input}");
            assert_eq!(field(form(action, seconds)), named, "{action} {seconds:?}");
        }
        assert_eq!(
            json(json!({"action": "set_interval", "interval_ms": "5s"})),
            form("set_interval", Some("5s")),
            "the same rule, in the same words"
        );
    }
}
