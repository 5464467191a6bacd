//! The break-glass windows table.

use super::machine::{Ended, Lifecycle, Window};
use super::status::ActivatedWindow;
use super::{BypassDuration, Reason};
use crate::database::{from_millis, to_millis, Pool};
use sqlx::Row;

/// Why a window could not be inserted although the service's own state allowed it: another
/// writer (a concurrent request or, later, another replica) got there first.
pub enum InsertRefused {
    OpenWindowExists,
    CoolingDown,
    Db(sqlx::Error),
}

/// The lifecycle as stored: the open window if any, else the cool-down after the last end.
/// Ticking it to `now` is the caller's job.
pub async fn load(pool: &Pool) -> Result<Lifecycle, sqlx::Error> {
    let open = sqlx::query(
        "SELECT activated_at, expires_at, duration_minutes, reason, activated_by \
         FROM break_glass_windows WHERE ended_at IS NULL",
    )
    .fetch_optional(pool)
    .await?;
    if let Some(r) = open {
        let reason: String = r.get("reason");
        let window = Window {
            activated_at: from_millis(r.get("activated_at")),
            expires_at: from_millis(r.get("expires_at")),
            duration: BypassDuration::parse(r.get("duration_minutes"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            reason: Reason::parse(&reason).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            activated_by: r.get("activated_by"),
        };
        return Ok(Lifecycle::Active(window));
    }
    let last_end: Option<i64> = sqlx::query_scalar("SELECT MAX(ended_at) FROM break_glass_windows")
        .fetch_one(pool)
        .await?;
    Ok(last_end.map_or(Lifecycle::Inactive, |e| {
        Lifecycle::after_end(from_millis(e))
    }))
}

pub async fn insert(conn: &mut crate::database::Conn, w: &Window) -> Result<i64, InsertRefused> {
    sqlx::query_scalar(
        "INSERT INTO break_glass_windows \
         (activated_at, expires_at, duration_minutes, reason, activated_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(to_millis(w.activated_at))
    .bind(to_millis(w.expires_at))
    .bind(i64::from(w.duration.minutes()))
    .bind(w.reason.as_str())
    .bind(&w.activated_by)
    .fetch_one(conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => InsertRefused::OpenWindowExists,
        sqlx::Error::Database(d) if d.message().contains("cool-down") => InsertRefused::CoolingDown,
        _ => InsertRefused::Db(e),
    })
}

/// Closes the open window that `ended` describes. Returns its id, or `None` when it was already
/// closed (by another writer), in which case nothing else may be recorded for this end.
pub async fn close(
    conn: &mut crate::database::Conn,
    ended: &Ended,
    ended_by: &str,
    unscanned: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE break_glass_windows \
         SET ended_at = $1, end_kind = $2, ended_by = $3, unscanned_count = $4 \
         WHERE ended_at IS NULL AND activated_at = $5 RETURNING id",
    )
    .bind(to_millis(ended.ended_at))
    .bind(ended.kind.as_str())
    .bind(ended_by)
    .bind(unscanned)
    .bind(to_millis(ended.window.activated_at))
    .fetch_optional(conn)
    .await
}

pub async fn recent(
    pool: &Pool,
    limit: u32,
) -> Result<Vec<(ActivatedWindow, Option<chrono::DateTime<chrono::Utc>>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, activated_at, expires_at, duration_minutes, reason, activated_by, ended_at \
         FROM break_glass_windows ORDER BY activated_at DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                ActivatedWindow {
                    id: r.get("id"),
                    activated_at: from_millis(r.get("activated_at")),
                    expires_at: from_millis(r.get("expires_at")),
                    duration_minutes: u32::try_from(r.get::<i64, _>("duration_minutes"))
                        .unwrap_or_default(),
                    reason: r.get("reason"),
                    activated_by: r.get("activated_by"),
                },
                r.get::<Option<i64>, _>("ended_at").map(from_millis),
            )
        })
        .collect())
}
