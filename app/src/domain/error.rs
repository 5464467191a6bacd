//! The one error type of the UI's server functions and the JSON API.

use crate::domain::FieldError;
use chrono::{DateTime, Utc};
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::fmt;

/// When a degraded replica suggests trying again.
const DEGRADED_RETRY_SECONDS: i64 = 5;
/// A busy database is usually free again within seconds.
const BUSY_RETRY_SECONDS: i64 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppError {
    /// 400: an input broke a rule.
    Invalid(FieldError),
    /// 401: no valid session.
    Unauthorized,
    /// 401 on login: wrong username or password (never says which).
    BadCredentials,
    /// 403: logged in, but not allowed.
    Forbidden(String),
    /// 403: the role may, but not for this window: its activator can neither acknowledge it
    /// nor sign off its review (separation of duties).
    OwnWindow,
    /// 404
    NotFound(String),
    /// 409: break-glass is already active.
    AlreadyActive { expires_at: DateTime<Utc> },
    /// 409: nothing to deactivate.
    NotActive,
    /// 409: a state change that the resource's lifecycle does not allow.
    Conflict(String),
    /// 409: the policy requires a second operator's approval: request, do not activate.
    ApprovalRequired,
    /// 409: the policy's review gate: an earlier window waits for its review, so a new one
    /// needs a second operator's approval (an override).
    ReviewPending { window_id: i64 },
    /// 429: activation refused during the cool-down.
    CoolingDown {
        until: DateTime<Utc>,
        retry_after_seconds: i64,
    },
    /// 429: too many failed logins; try again later.
    LoginThrottled { retry_after_seconds: i64 },
    /// An API key sent more requests than its limit per minute.
    RateLimited { retry_after_seconds: i64 },
    /// 429: this session already holds as many event streams as one session may.
    TooManyStreams { limit: usize },
    /// 503: this replica has lost its database connection, so it cannot know what other
    /// replicas did: it refuses to activate until it has reconnected and caught up.
    Degraded,
    /// 503: the database stayed busy with other writes for longer than a write may wait;
    /// nothing was changed.
    Busy,
    /// 500: details are in the server log, not in the response.
    Internal,
    /// The call did not reach the server function or its answer could not be read.
    Transport(String),
}

impl AppError {
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 400,
            AppError::Unauthorized | AppError::BadCredentials => 401,
            AppError::Forbidden(_) | AppError::OwnWindow => 403,
            AppError::NotFound(_) => 404,
            AppError::AlreadyActive { .. }
            | AppError::NotActive
            | AppError::Conflict(_)
            | AppError::ApprovalRequired
            | AppError::ReviewPending { .. } => 409,
            AppError::CoolingDown { .. }
            | AppError::LoginThrottled { .. }
            | AppError::RateLimited { .. }
            | AppError::TooManyStreams { .. } => 429,
            AppError::Degraded | AppError::Busy => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }

    /// Seconds after which a refused request may be tried again, for `Retry-After`.
    pub fn retry_after_seconds(&self) -> Option<i64> {
        match self {
            AppError::CoolingDown {
                retry_after_seconds,
                ..
            }
            | AppError::LoginThrottled {
                retry_after_seconds,
            }
            | AppError::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            AppError::Degraded => Some(DEGRADED_RETRY_SECONDS),
            AppError::Busy => Some(BUSY_RETRY_SECONDS),
            // A stream whose client left unannounced is noticed at its next keep-alive.
            AppError::TooManyStreams { .. } => Some(15),
            _ => None,
        }
    }

    /// A stable machine-readable code for the JSON API.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "invalid_input",
            AppError::Unauthorized => "unauthorized",
            AppError::BadCredentials => "bad_credentials",
            AppError::Forbidden(_) => "forbidden",
            AppError::OwnWindow => "own_window",
            AppError::NotFound(_) => "not_found",
            AppError::AlreadyActive { .. } => "already_active",
            AppError::NotActive => "not_active",
            AppError::Conflict(_) => "conflict",
            AppError::ApprovalRequired => "approval_required",
            AppError::ReviewPending { .. } => "review_pending",
            AppError::CoolingDown { .. } => "cooling_down",
            AppError::LoginThrottled { .. } => "login_throttled",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::TooManyStreams { .. } => "too_many_streams",
            AppError::Degraded => "degraded",
            AppError::Busy => "busy",
            AppError::Internal => "internal",
            AppError::Transport(_) => "transport",
        }
    }

    /// The JSON body of an error response: `{"error": {"code", "message", "field"?, ...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code(),
            "message": self.to_string(),
        });
        match self {
            AppError::Invalid(e) => error["field"] = e.field.as_str().into(),
            AppError::ReviewPending { window_id } => error["window_id"] = (*window_id).into(),
            AppError::AlreadyActive { expires_at } => {
                error["expires_at"] = expires_at.to_rfc3339().into()
            }
            AppError::CoolingDown {
                until,
                retry_after_seconds,
            } => {
                error["cool_down_until"] = until.to_rfc3339().into();
                error["retry_after_seconds"] = (*retry_after_seconds).into();
            }
            AppError::LoginThrottled {
                retry_after_seconds,
            }
            | AppError::RateLimited {
                retry_after_seconds,
            } => error["retry_after_seconds"] = (*retry_after_seconds).into(),
            _ => {}
        }
        serde_json::json!({ "error": error })
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Invalid(e) => write!(f, "{}", e.message),
            AppError::Unauthorized => {
                f.write_str("You are not logged in, or your session has ended")
            }
            AppError::BadCredentials => f.write_str("Wrong username or password"),
            AppError::Forbidden(what) => write!(f, "You are not allowed to {what}"),
            AppError::OwnWindow => f.write_str(
                "You opened this window yourself: a second operator must acknowledge and review it",
            ),
            AppError::NotFound(what) => write!(f, "{what} was not found"),
            AppError::AlreadyActive { expires_at } => write!(
                f,
                "Break-glass is already active until {}",
                expires_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            AppError::NotActive => f.write_str("Break-glass is not active"),
            AppError::Conflict(why) => f.write_str(why),
            AppError::ReviewPending { window_id } => write!(
                f,
                "Break-glass window #{window_id} still waits for its review: request \
                 break-glass instead, and a second operator may approve it as an override"
            ),
            AppError::ApprovalRequired => f.write_str(
                "This deployment requires a second operator's approval: request break-glass \
                 (POST /api/break-glass/request), and another operator approves it",
            ),
            AppError::CoolingDown {
                retry_after_seconds,
                ..
            } => write!(
                f,
                "Break-glass is cooling down: it can be activated again in {}",
                crate::domain::time_format::mm_ss(*retry_after_seconds)
            ),
            AppError::LoginThrottled {
                retry_after_seconds,
            } => write!(
                f,
                "Too many failed logins: try again in {}",
                crate::domain::time_format::mm_ss(*retry_after_seconds)
            ),
            AppError::RateLimited {
                retry_after_seconds,
            } => write!(
                f,
                "This API key is over its rate limit: try again in {retry_after_seconds} s"
            ),
            AppError::TooManyStreams { limit } => write!(
                f,
                "This session already has {limit} event streams open, the most one session may; \
                 close a tab, or try again once a closed one has been noticed"
            ),
            AppError::Degraded => f.write_str(
                "This server has lost its connection to the database: changes are refused until \
                 it reconnects, and the last known break-glass state still applies. Try again \
                 shortly or through another replica",
            ),
            AppError::Busy => f.write_str(
                "The database stayed busy with other writes for longer than this change may wait; \
                 nothing was changed. Try again in a few seconds",
            ),
            AppError::Internal => {
                f.write_str("The server could not complete the request; it has been logged")
            }
            AppError::Transport(e) => write!(f, "Could not reach the server: {e}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<FieldError> for AppError {
    fn from(value: FieldError) -> Self {
        AppError::Invalid(value)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
