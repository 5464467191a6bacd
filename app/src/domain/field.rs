//! Which input a validation error belongs to, and the error itself: what every door (the JSON
//! API, the server functions, the dialog) reports for bad input.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares `Field` with one name per input: serde's and `as_str`'s both come from it, so a
/// server function's error and the JSON API's name a field alike.
macro_rules! fields {
    ($($variant:ident => $name:literal,)*) => {
        /// The input field a validation error belongs to, named as the API and the dialog name
        /// it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Field {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Field {
            /// Every field, in the order declared.
            pub const ALL: &[Field] = &[$(Field::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }
        }
    };
}

fields! {
    Reason => "reason",
    DurationMinutes => "duration_minutes",
    Minutes => "minutes",
    AckMinutes => "ack_minutes",
    ApprovalMinutes => "approval_minutes",
    ReviewGate => "review_gate",
    DrillDays => "drill_days",
    ScopeKeys => "scope_keys",
    ScopeModels => "scope_models",
    Confirm => "confirm",
    Body => "body",
    Username => "username",
    Password => "password",
    From => "from",
    To => "to",
    Text => "text",
    Name => "name",
    Mode => "mode",
    Source => "source",
    Verdict => "verdict",
    MinScore => "min_score",
    Sort => "sort",
    Cursor => "cursor",
    Limit => "limit",
    Model => "model",
    Provider => "provider",
    Score => "score",
    HttpStatus => "http_status",
    Detections => "detections",
    At => "at",
    Id => "id",
    IntervalMs => "interval_ms",
    Action => "action",
    Notes => "notes",
    Note => "note",
    Role => "role",
    CurrentPassword => "current_password",
    NewPassword => "new_password",
    Scopes => "scopes",
    ExpiresAt => "expires_at",
    RateLimit => "rate_limit_per_minute",
    Outcome => "outcome",
    SessionId => "session_id",
    RequestId => "request_id",
    Order => "order",
    Kind => "kind",
    Url => "url",
    Secret => "secret",
    MailFrom => "mail_from",
    MailTo => "mail_to",
    SmtpUser => "smtp_user",
    Topics => "topics",
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

/// One field of an action's input as it arrives: text from a form, a whole number, text or a
/// list from the JSON API, or anything else that someone posted. Each action's raw input type
/// is made of these, so that its one conversion into the parsed type names the first field,
/// in form order, that is missing, mistyped or invalid, whichever door it came through.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum WireField {
    Whole(i64),
    Text(String),
    List(Vec<WireField>),
    Other(serde::de::IgnoredAny),
}

#[cfg(test)]
mod tests {
    use super::Field;

    /// The name an error carries is the same whether it is serialised (a server function's
    /// error) or written by `as_str` (the JSON API's).
    #[test]
    fn every_field_has_one_name() {
        for field in Field::ALL {
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                serde_json::json!(field.as_str())
            );
        }
    }
}
