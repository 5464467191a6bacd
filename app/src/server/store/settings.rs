//! Operator-controlled settings kept in the store (the shield mode, the watcher's controls):
//! one value per name, with who changed it last.

use crate::server::database::{to_millis, Pool};
use chrono::{DateTime, Utc};

pub async fn get(pool: &Pool, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

pub async fn put(
    conn: &mut crate::server::database::Conn,
    name: &str,
    value: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(name)
    .bind(value)
    .bind(to_millis(at))
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}
