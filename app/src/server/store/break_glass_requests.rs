//! The `break_glass_requests` table: activations waiting for a second operator's decision
//! (the approval-required policy), and how each was decided.

use crate::domain::break_glass::machine::Request;
use crate::domain::break_glass::{BypassDuration, Reason};
use crate::server::database::{from_millis, to_millis, Conn, Pool};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decided {
    Approved,
    Denied,
    Lapsed,
}

impl Decided {
    fn as_str(self) -> &'static str {
        match self {
            Decided::Approved => "approved",
            Decided::Denied => "denied",
            Decided::Lapsed => "lapsed",
        }
    }
}

/// The waiting request, if one waits.
pub async fn pending(pool: &Pool) -> Result<Option<Request>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT requested_at, decide_by, requested_by, reason, duration_minutes \
         FROM break_glass_requests WHERE state = 'pending'",
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        let reason: String = r.get("reason");
        Ok(Request {
            requested_at: from_millis(r.get("requested_at")),
            decide_by: from_millis(r.get("decide_by")),
            reason: Reason::parse(&reason).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            duration: BypassDuration::parse(r.get("duration_minutes"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            requested_by: r.get("requested_by"),
        })
    })
    .transpose()
}

/// Stores a new request; `None` when the store refuses it because a request already waits or
/// a window is open (another writer got there first).
pub async fn insert(conn: &mut Conn, request: &Request) -> Result<Option<i64>, sqlx::Error> {
    let inserted = sqlx::query_scalar(
        "INSERT INTO break_glass_requests \
         (requested_at, decide_by, requested_by, reason, duration_minutes) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(to_millis(request.requested_at))
    .bind(to_millis(request.decide_by))
    .bind(&request.requested_by)
    .bind(request.reason.as_str())
    .bind(i64::from(request.duration.minutes()))
    .fetch_one(conn)
    .await;
    match inserted {
        Ok(id) => Ok(Some(id)),
        Err(sqlx::Error::Database(d))
            if d.is_unique_violation() || d.message().contains("window open") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Decides the waiting request `request` (approved with the window it opened, denied, or
/// lapsed). Returns its id, or `None` when it no longer waits (decided elsewhere first).
pub async fn decide(
    conn: &mut Conn,
    request: &Request,
    how: Decided,
    at: DateTime<Utc>,
    by: &str,
    note: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE break_glass_requests SET state = $1, decided_at = $2, decided_by = $3, note = $4 \
         WHERE state = 'pending' AND requested_at = $5 RETURNING id",
    )
    .bind(how.as_str())
    .bind(to_millis(at))
    .bind(by)
    .bind(note)
    .bind(to_millis(request.requested_at))
    .fetch_optional(conn)
    .await
}

/// Links an approved request to the window it opened.
pub async fn opened(conn: &mut Conn, request_id: i64, window_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE break_glass_requests SET window_id = $1 WHERE id = $2")
        .bind(window_id)
        .bind(request_id)
        .execute(conn)
        .await?;
    Ok(())
}
