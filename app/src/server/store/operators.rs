//! The `operators` table: every statement on it (the one place an operator row is made, the
//! admins' changes, and what logins and startup read).

use crate::domain::{OperatorAccount, Role};
use crate::server::database::{from_millis, to_millis, Conn, Pool};
use chrono::{DateTime, Utc};
use sqlx::Row;

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

/// How many operators there are.
pub async fn count(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM operators")
        .fetch_one(pool)
        .await
}

/// The password hash of the operator `admin`, when enabled.
pub async fn enabled_admin_hash(pool: &Pool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT password_hash FROM operators WHERE username = 'admin' AND disabled = 0",
    )
    .fetch_optional(pool)
    .await
}

/// An enabled operator as a login reads it.
pub struct LoginRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
}

/// The enabled operator named `username`.
pub async fn enabled_by_name(pool: &Pool, username: &str) -> Result<Option<LoginRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, username, password_hash, role FROM operators \
         WHERE username = $1 AND disabled = 0",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| LoginRow {
        id: r.get("id"),
        username: r.get("username"),
        password_hash: r.get("password_hash"),
        role: r.get("role"),
    }))
}

/// Every operator's id.
pub async fn ids(pool: &Pool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM operators")
        .fetch_all(pool)
        .await
}

const ACCOUNT: &str = "SELECT o.id, o.username, o.role, o.disabled, o.created_at, \
     (SELECT COUNT(*) FROM sessions s WHERE s.operator_id = o.id AND s.expires_at > $1) \
     AS sessions FROM operators o";

fn account_of(r: &crate::server::database::Row) -> Option<OperatorAccount> {
    Some(OperatorAccount {
        id: r.get("id"),
        username: r.get("username"),
        role: Role::parse(r.get("role"))?,
        disabled: r.get::<i64, _>("disabled") != 0,
        created_at: from_millis(r.get("created_at")),
        sessions: r.get("sessions"),
    })
}

/// Every operator, by name, with the sessions open at `now`.
pub async fn accounts(
    pool: &Pool,
    now: DateTime<Utc>,
) -> Result<Vec<OperatorAccount>, sqlx::Error> {
    let rows = sqlx::query(&format!("{ACCOUNT} ORDER BY o.username"))
        .bind(to_millis(now))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().filter_map(account_of).collect())
}

/// Operator `id`, with the sessions open at `now`.
pub async fn account(
    conn: &mut Conn,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<OperatorAccount>, sqlx::Error> {
    let row = sqlx::query(&format!("{ACCOUNT} WHERE o.id = $2"))
        .bind(to_millis(now))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().and_then(account_of))
}

pub async fn set_role(conn: &mut Conn, id: i64, role: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE operators SET role = $1 WHERE id = $2")
        .bind(role)
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_disabled(conn: &mut Conn, id: i64, disabled: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE operators SET disabled = $1 WHERE id = $2")
        .bind(i64::from(disabled))
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_password_hash(conn: &mut Conn, id: i64, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE operators SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn password_hash(pool: &Pool, id: i64) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM operators WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// How many enabled admins there are (as `conn`'s transaction sees it).
pub async fn enabled_admins(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM operators WHERE role = 'admin' AND disabled = 0")
        .fetch_one(conn)
        .await
}
