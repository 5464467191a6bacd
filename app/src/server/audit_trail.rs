use crate::domain::audit::{AuditEntry, AuditFilter, AuditOrder, AuditPage};
use crate::domain::{AppError, Permission, Reader, Scope};
use crate::server::database::{from_millis, to_millis, Pool, Statement};
use chrono::{DateTime, Utc};
use sqlx::Row;

pub async fn record(
    conn: &mut crate::server::database::Conn,
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

/// One page of the trail, for an operator who may read it or a key with the `audit:read`
/// scope.
pub async fn list(
    pool: &Pool,
    reader: &Reader,
    filter: &AuditFilter,
) -> Result<AuditPage, AppError> {
    reader.require(Permission::AuditRead, Scope::AuditRead)?;
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
    let newest = filter.order == AuditOrder::Newest;
    if let Some(c) = filter.cursor {
        q.push(if newest { " AND id < " } else { " AND id > " })
            .push_bind(c);
    }
    q.push(if newest {
        " ORDER BY id DESC LIMIT "
    } else {
        " ORDER BY id LIMIT "
    })
    // One more than asked: whether more matched.
    .push_bind(i64::from(filter.limit) + 1);
    let rows = q.fetch_all(pool).await?;
    let mut entries: Vec<AuditEntry> = rows
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
        .collect();
    let has_more = entries.len() > filter.limit as usize;
    entries.truncate(filter.limit as usize);
    let next_cursor = entries
        .last()
        .map(|e| e.id)
        .or(filter.cursor)
        .map(|id| id.to_string());
    Ok(AuditPage {
        entries,
        next_cursor,
        has_more,
    })
}
