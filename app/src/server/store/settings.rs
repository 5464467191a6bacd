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

/// Sets `name` to `value` only if it still holds `expected` (absent when `None`): a
/// compare-and-set, `false` when another writer changed it first.
pub async fn replace_if(
    pool: &Pool,
    name: &str,
    expected: Option<&str>,
    value: &str,
    at: DateTime<Utc>,
    by: &str,
) -> Result<bool, sqlx::Error> {
    let done = match expected {
        Some(expected) => {
            sqlx::query(
                "UPDATE settings SET value = $1, updated_at = $2, updated_by = $3 \
                 WHERE name = $4 AND value = $5",
            )
            .bind(value)
            .bind(to_millis(at))
            .bind(by)
            .bind(name)
            .bind(expected)
            .execute(pool)
            .await?
        }
        None => {
            sqlx::query(
                "INSERT INTO settings (name, value, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(value)
            .bind(to_millis(at))
            .bind(by)
            .execute(pool)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}
