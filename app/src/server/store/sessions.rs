//! The `sessions` table: one row per logged-in browser, keyed by the hash of its token.

use crate::server::database::{to_millis, Conn};
use chrono::{DateTime, Utc};

/// Stores a new session of `operator_id`.
pub async fn insert(
    conn: &mut Conn,
    token_hash: &str,
    operator_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(operator_id)
    .bind(to_millis(now))
    .bind(to_millis(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the operator's expired sessions and, beyond the newest `keep` live ones, the oldest;
/// returns how many ended.
pub async fn prune(
    conn: &mut Conn,
    operator_id: i64,
    now: DateTime<Utc>,
    keep: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM sessions WHERE operator_id = $1 AND (expires_at <= $2 OR token_hash NOT IN \
         (SELECT token_hash FROM sessions WHERE operator_id = $1 AND expires_at > $2 \
          ORDER BY created_at DESC, id DESC LIMIT $3))",
    )
    .bind(operator_id)
    .bind(to_millis(now))
    .bind(keep)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Ends the session with this token hash.
pub async fn end(conn: &mut Conn, token_hash: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Ends every session of the operator; returns how many ended.
pub async fn end_all_of(conn: &mut Conn, operator_id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE operator_id = $1")
        .bind(operator_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Ends every session of the operator but the one with the token hash `keep` (the caller's
/// own); returns how many ended.
pub async fn end_others_of(
    conn: &mut Conn,
    operator_id: i64,
    keep: &str,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE operator_id = $1 AND token_hash <> $2")
            .bind(operator_id)
            .bind(keep)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// The live session with this token hash, of an operator who is not disabled: the
/// operator's id, name and role, and when the session expires.
pub async fn live(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(i64, String, String, DateTime<Utc>)>, sqlx::Error> {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT o.id, o.username, o.role, s.expires_at FROM sessions s \
         JOIN operators o ON o.id = s.operator_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND o.disabled = 0",
    )
    .bind(token_hash)
    .bind(to_millis(now))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        (
            r.get("id"),
            r.get("username"),
            r.get("role"),
            crate::server::database::from_millis(r.get("expires_at")),
        )
    }))
}
