//! The `operators` table (the move of its other statements here is under way): for now, the
//! one place an operator row is made.

use crate::database::{to_millis, Conn};
use chrono::{DateTime, Utc};

/// Adds an operator; `None` when the name is taken.
pub async fn insert(
    conn: &mut Conn,
    username: &str,
    password_hash: &str,
    role: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO operators (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(role)
    .bind(to_millis(now))
    .fetch_optional(conn)
    .await
}
