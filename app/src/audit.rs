//! The append-only audit trail: who did what, when, from where.

use crate::break_glass::{Field, FieldError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const ACTIVATE: &str = "break_glass.activate";
pub const ACTIVATE_DENIED: &str = "break_glass.activate_denied";
pub const DEACTIVATE: &str = "break_glass.deactivate";
pub const EXPIRE: &str = "break_glass.expire";
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

/// Every action the trail records, for the filter's choices.
pub const ACTIONS: [&str; 25] = [
    ACTIVATE,
    ACTIVATE_DENIED,
    DEACTIVATE,
    EXPIRE,
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

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
}

impl AuditFilter {
    /// The filter as the Audit Trail form sends it: empty fields mean "any".
    pub fn from_form(action: &str, actor: &str, from: &str, to: &str) -> Result<Self, FieldError> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(Self {
            action: text(action),
            actor: text(actor),
            from: crate::time_format::parse_instant(Field::From, from)?,
            to: crate::time_format::parse_instant(Field::To, to)?,
            limit: None,
        })
    }
}

#[cfg(feature = "ssr")]
pub use store::{list, record};

#[cfg(feature = "ssr")]
mod store {
    use super::{AuditEntry, AuditFilter};
    use crate::database::{from_millis, to_millis, Pool, Statement};
    use chrono::{DateTime, Utc};
    use sqlx::Row;

    pub async fn record(
        conn: &mut crate::database::Conn,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        details: serde_json::Value,
        source_addr: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, details, source_addr) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(to_millis(at))
        .bind(actor)
        .bind(action)
        .bind(details.to_string())
        .bind(source_addr)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn list(pool: &Pool, filter: &AuditFilter) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let mut q = Statement::new(
            "SELECT id, at, actor, action, details, source_addr FROM audit_log WHERE 1 = 1",
        );
        if let Some(action) = &filter.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(actor) = &filter.actor {
            q.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(from) = filter.from {
            q.push(" AND at >= ").push_bind(to_millis(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND at <= ").push_bind(to_millis(to));
        }
        let limit = filter.limit.unwrap_or(200).clamp(1, 1000);
        q.push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.fetch_all(pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.get("id"),
                at: from_millis(r.get("at")),
                actor: r.get("actor"),
                action: r.get("action"),
                details: serde_json::from_str(r.get::<&str, _>("details"))
                    .unwrap_or(serde_json::Value::Null),
                source_addr: r.get("source_addr"),
            })
            .collect())
    }
}
