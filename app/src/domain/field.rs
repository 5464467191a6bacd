//! Which input a validation error belongs to, and the error itself: what every door (the JSON
//! API, the server functions, the dialog) reports for bad input.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The input field a validation error belongs to, named as the API and the dialog name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Reason,
    DurationMinutes,
    Confirm,
    Body,
    Username,
    Password,
    From,
    To,
    Text,
    Name,
    Mode,
    Source,
    Verdict,
    MinScore,
    Sort,
    Cursor,
    Limit,
    Model,
    Provider,
    Score,
    HttpStatus,
    Detections,
    At,
    Id,
    IntervalMs,
    Action,
    Notes,
    Role,
    CurrentPassword,
    NewPassword,
    Scopes,
    ExpiresAt,
    #[serde(rename = "rate_limit_per_minute")]
    RateLimit,
    Outcome,
    SessionId,
    RequestId,
    Order,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Reason => "reason",
            Field::DurationMinutes => "duration_minutes",
            Field::Confirm => "confirm",
            Field::Body => "body",
            Field::Username => "username",
            Field::Password => "password",
            Field::From => "from",
            Field::To => "to",
            Field::Text => "text",
            Field::Name => "name",
            Field::Mode => "mode",
            Field::Source => "source",
            Field::Verdict => "verdict",
            Field::MinScore => "min_score",
            Field::Sort => "sort",
            Field::Cursor => "cursor",
            Field::Limit => "limit",
            Field::Model => "model",
            Field::Provider => "provider",
            Field::Score => "score",
            Field::HttpStatus => "http_status",
            Field::Detections => "detections",
            Field::At => "at",
            Field::Id => "id",
            Field::IntervalMs => "interval_ms",
            Field::Action => "action",
            Field::Notes => "notes",
            Field::Role => "role",
            Field::CurrentPassword => "current_password",
            Field::NewPassword => "new_password",
            Field::Scopes => "scopes",
            Field::ExpiresAt => "expires_at",
            Field::RateLimit => "rate_limit_per_minute",
            Field::Outcome => "outcome",
            Field::SessionId => "session_id",
            Field::RequestId => "request_id",
            Field::Order => "order",
        }
    }
}

/// A rejected input: which field, and the rule it broke, in an operator's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: Field,
    pub message: String,
}

impl FieldError {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::Field;

    /// The name an error carries is the same whether it is serialised (a server function's
    /// error) or written by `as_str` (the JSON API's).
    #[test]
    fn every_field_has_one_name() {
        use Field::*;
        for field in [
            Reason,
            DurationMinutes,
            Confirm,
            Body,
            Username,
            Password,
            From,
            To,
            Text,
            Name,
            Mode,
            Source,
            Verdict,
            MinScore,
            Sort,
            Cursor,
            Limit,
            Model,
            Provider,
            Score,
            HttpStatus,
            Detections,
            At,
            Id,
            IntervalMs,
            Action,
            Notes,
            Role,
            CurrentPassword,
            NewPassword,
            Scopes,
            ExpiresAt,
            RateLimit,
            Outcome,
            SessionId,
            RequestId,
            Order,
        ] {
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                serde_json::json!(field.as_str())
            );
        }
    }
}
