use crate::domain::alerts::{Alert, AlertAction, AlertStatus, Severity};
use crate::domain::audit;
use crate::domain::notifications::{Notice, Topic};
use crate::domain::AppError;
use crate::domain::{Actor, Permission, Reader, Scope};
use crate::server::audit_trail;
use crate::server::database::{self, from_millis, to_millis, Pool};
use chrono::{DateTime, Utc};
use sqlx::Row;

pub struct NewAlert<'a> {
    pub at: DateTime<Utc>,
    pub severity: Severity,
    pub source: &'a str,
    pub title: String,
    pub message: String,
    pub window_id: Option<i64>,
    pub link: Option<String>,
    /// The notification channels subscribed to this topic are told, in the same transaction.
    pub topic: Option<Topic>,
}

const COLUMNS: &str = "id, created_at, severity, source, title, message, status, window_id, \
    link, acknowledged_at, acknowledged_by, resolved_at, resolved_by";

fn from_row(r: &crate::server::database::Row) -> Alert {
    let severity = match r.get::<&str, _>("severity") {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        _ => Severity::Info,
    };
    let status = match r.get::<&str, _>("status") {
        "ACKNOWLEDGED" => AlertStatus::Acknowledged,
        "RESOLVED" => AlertStatus::Resolved,
        _ => AlertStatus::Open,
    };
    Alert {
        id: r.get("id"),
        created_at: from_millis(r.get("created_at")),
        severity,
        source: r.get("source"),
        title: r.get("title"),
        message: r.get("message"),
        status,
        window_id: r.get("window_id"),
        link: r.get("link"),
        acknowledged_at: r.get::<Option<i64>, _>("acknowledged_at").map(from_millis),
        acknowledged_by: r.get("acknowledged_by"),
        resolved_at: r.get::<Option<i64>, _>("resolved_at").map(from_millis),
        resolved_by: r.get("resolved_by"),
    }
}

pub async fn insert(
    conn: &mut crate::server::database::Conn,
    alert: NewAlert<'_>,
) -> Result<Alert, sqlx::Error> {
    let topic = alert.topic;
    let row = sqlx::query(&format!(
        "INSERT INTO alerts (created_at, severity, source, title, message, window_id, link) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(to_millis(alert.at))
    .bind(alert.severity.as_str())
    .bind(alert.source)
    .bind(alert.title)
    .bind(alert.message)
    .bind(alert.window_id)
    .bind(alert.link)
    .fetch_one(&mut *conn)
    .await?;
    let alert = from_row(&row);
    if let Some(topic) = topic {
        crate::server::notifications::outbox::enqueue(
            conn,
            &Notice {
                topic,
                at: alert.created_at,
                severity: alert.severity,
                title: alert.title.clone(),
                message: alert.message.clone(),
                window_id: alert.window_id,
                link: alert.link.clone(),
            },
        )
        .await?;
    }
    Ok(alert)
}

/// The newest `limit` alerts (with `status`, when given), for a caller who may read them.
pub async fn list(
    pool: &Pool,
    actor: &Actor,
    status: Option<AlertStatus>,
    limit: u32,
) -> Result<Vec<Alert>, AppError> {
    actor.require(Permission::AlertsRead)?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE ($1 IS NULL OR status = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(status.map(AlertStatus::as_str))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The newest alert with this source and title raised since `since` and not yet resolved.
pub async fn unresolved_since(
    pool: &Pool,
    actor: &Actor,
    source: &str,
    title: &str,
    since: DateTime<Utc>,
) -> Result<Option<Alert>, AppError> {
    actor.require(Permission::AlertsRead)?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE source = $1 AND title = $2 AND created_at >= $3 \
         AND status != 'RESOLVED' ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(source)
    .bind(title)
    .bind(to_millis(since))
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// An operator acknowledges or resolves an alert; audited.
pub async fn apply(
    pool: &Pool,
    actor: &Actor,
    id: i64,
    action: AlertAction,
    now: DateTime<Utc>,
) -> Result<Alert, AppError> {
    actor.require(Permission::AlertsManage)?;
    let mut tx = database::begin(pool).await?;
    let current = get(&mut *tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Alert {id}")))?;
    let target = action.target();
    if !current.status.may_become(target) {
        return Err(AppError::Conflict(format!(
            "Alert {id} is {}; it cannot become {}",
            current.status.as_str(),
            target.as_str()
        )));
    }
    let updated = set_status(&mut tx, id, action, &actor.operator.username, now).await?;
    let audit_action = match action {
        AlertAction::Acknowledge => audit::ALERT_ACKNOWLEDGE,
        AlertAction::Resolve => audit::ALERT_RESOLVE,
    };
    audit_trail::record(
        &mut tx,
        now,
        &actor.operator.username,
        audit_action,
        serde_json::json!({ "alert_id": id, "title": updated.title }),
        actor.source_addr.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn get<'e, E>(executor: E, id: i64) -> Result<Option<Alert>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = crate::server::database::Db>,
{
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// The alerts raised since `since`, oldest first.
/// How many alerts titled `title` were raised since `since`.
pub async fn titled_since(
    pool: &Pool,
    title: &str,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE title = $1 AND created_at >= $2")
        .bind(title)
        .bind(to_millis(since))
        .fetch_one(pool)
        .await
}

/// The alerts not yet resolved, counted by severity.
/// How many alerts are open, by severity (for `/metrics`).
pub async fn open_by_severity(
    pool: &Pool,
    reader: &Reader,
) -> Result<Vec<(String, i64)>, AppError> {
    reader.require(Permission::AlertsRead, Scope::BreakGlassRead)?;
    Ok(sqlx::query_as(
        "SELECT severity, COUNT(*) FROM alerts WHERE status != 'RESOLVED' GROUP BY severity",
    )
    .fetch_all(pool)
    .await?)
}

pub async fn created_since(pool: &Pool, since: DateTime<Utc>) -> Result<Vec<Alert>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE created_at >= $1 ORDER BY created_at, id"
    ))
    .bind(to_millis(since))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

async fn set_status(
    conn: &mut crate::server::database::Conn,
    id: i64,
    action: AlertAction,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Alert, sqlx::Error> {
    let sql = match action {
        AlertAction::Acknowledge => format!(
            "UPDATE alerts SET status = 'ACKNOWLEDGED', acknowledged_at = $1, acknowledged_by = $2 \
             WHERE id = $3 RETURNING {COLUMNS}"
        ),
        AlertAction::Resolve => format!(
            "UPDATE alerts SET status = 'RESOLVED', resolved_at = $1, resolved_by = $2 \
             WHERE id = $3 RETURNING {COLUMNS}"
        ),
    };
    let row = sqlx::query(&sql)
        .bind(to_millis(at))
        .bind(actor)
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(from_row(&row))
}
