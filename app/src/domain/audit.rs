//! The append-only audit trail: who did what, when, from where.

use crate::domain::{Field, FieldError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const ACTIVATE: &str = "break_glass.activate";
pub const DRILL: &str = "break_glass.drill";
pub const ACTIVATE_DENIED: &str = "break_glass.activate_denied";
pub const DEACTIVATE: &str = "break_glass.deactivate";
pub const EXPIRE: &str = "break_glass.expire";
pub const EXTEND: &str = "break_glass.extend";
pub const ACKNOWLEDGE: &str = "break_glass.acknowledge";
pub const ACK_OVERDUE: &str = "break_glass.ack_overdue";
pub const POLICY: &str = "break_glass.policy";
pub const REQUEST: &str = "break_glass.request";
pub const APPROVE: &str = "break_glass.approve";
pub const DENY: &str = "break_glass.deny";
pub const REQUEST_LAPSED: &str = "break_glass.request_lapsed";
pub const EXTEND_REQUEST: &str = "break_glass.extend_request";
pub const LOGIN: &str = "auth.login";
pub const LOGIN_FAILED: &str = "auth.login_failed";
pub const LOGOUT: &str = "auth.logout";
pub const OPERATOR_DISABLED: &str = "auth.operator_disabled";
pub const ALERT_ACKNOWLEDGE: &str = "alert.acknowledge";
pub const ALERT_RESOLVE: &str = "alert.resolve";
pub const API_KEY_CREATE: &str = "api_key.create";
pub const API_KEY_REVOKE: &str = "api_key.revoke";
pub const SHIELD_MODE: &str = "shield.mode";
pub const REVIEW: &str = "break_glass.review";
pub const WATCHER_POLL: &str = "watcher.poll_now";
pub const WATCHER_INTERVAL: &str = "watcher.set_interval";
pub const WATCHER_ENABLE: &str = "watcher.enable";
pub const WATCHER_DISABLE: &str = "watcher.disable";
pub const OPERATOR_CREATE: &str = "operator.create";
pub const OPERATOR_ROLE: &str = "operator.set_role";
pub const OPERATOR_DISABLE: &str = "operator.disable";
pub const OPERATOR_ENABLE: &str = "operator.enable";
pub const OPERATOR_PASSWORD_RESET: &str = "operator.reset_password";
pub const PASSWORD_CHANGE: &str = "auth.change_password";
pub const LOGOUT_EVERYWHERE: &str = "auth.logout_everywhere";
pub const CHANNEL_ADD: &str = "notifications.channel_add";
pub const CHANNEL_REMOVE: &str = "notifications.channel_remove";
pub const CHANNEL_TEST: &str = "notifications.channel_test";

/// Every action the trail records, for the filter's choices.
pub const ACTIONS: [&str; 38] = [
    ACTIVATE,
    DRILL,
    ACTIVATE_DENIED,
    DEACTIVATE,
    EXPIRE,
    EXTEND,
    ACKNOWLEDGE,
    ACK_OVERDUE,
    POLICY,
    REQUEST,
    APPROVE,
    DENY,
    REQUEST_LAPSED,
    EXTEND_REQUEST,
    LOGIN,
    LOGIN_FAILED,
    LOGOUT,
    OPERATOR_DISABLED,
    ALERT_ACKNOWLEDGE,
    ALERT_RESOLVE,
    API_KEY_CREATE,
    API_KEY_REVOKE,
    SHIELD_MODE,
    REVIEW,
    WATCHER_POLL,
    WATCHER_INTERVAL,
    WATCHER_ENABLE,
    WATCHER_DISABLE,
    OPERATOR_CREATE,
    OPERATOR_ROLE,
    OPERATOR_DISABLE,
    OPERATOR_ENABLE,
    OPERATOR_PASSWORD_RESET,
    PASSWORD_CHANGE,
    LOGOUT_EVERYWHERE,
    CHANNEL_ADD,
    CHANNEL_REMOVE,
    CHANNEL_TEST,
];

/// The actor of what the server does by itself.
pub const SYSTEM: &str = "system";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    pub source_addr: Option<String>,
}

/// Which way a listing runs: the page shows the newest first; a SIEM pulls the oldest first and
/// keeps the last cursor to resume with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOrder {
    #[default]
    Newest,
    Oldest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub order: AuditOrder,
    /// Entries after this one, in `order`: the `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    pub limit: u32,
}

impl AuditFilter {
    /// The filter as the Audit Trail form and the API's query string give it: empty or
    /// missing fields mean "any".
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, FieldError> {
        let text = |k: &str| {
            get(k)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let order = match text("order").as_deref() {
            None | Some("newest") => AuditOrder::Newest,
            Some("oldest") => AuditOrder::Oldest,
            Some(_) => {
                return Err(FieldError::new(
                    Field::Order,
                    "Order must be newest or oldest",
                ))
            }
        };
        let cursor = text("cursor")
            .map(|c| {
                c.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
                    FieldError::new(Field::Cursor, "Cursor is not one this server gave out")
                })
            })
            .transpose()?;
        let limit = crate::domain::paging::limit(text("limit"))?;
        Ok(Self {
            action: text("action"),
            actor: text("actor"),
            from: crate::domain::time_format::parse_instant(
                Field::From,
                &text("from").unwrap_or_default(),
            )?,
            to: crate::domain::time_format::parse_instant(
                Field::To,
                &text("to").unwrap_or_default(),
            )?,
            order,
            cursor,
            limit,
        })
    }
}

/// One page of the trail. `next_cursor` is the position after the last entry: pass it back as
/// `cursor` for the next page, or, pulling the oldest first, later on for what has been written
/// since. Entries are ordered by id, which is the order they were committed in (on PostgreSQL a
/// lock makes commits take ids in turn), so a pull that resumes from a cursor misses none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
    /// More entries matched beyond this page when it was read.
    pub has_more: bool,
}
