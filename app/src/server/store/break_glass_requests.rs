//! The `break_glass_requests` table: activations waiting for a second operator's decision
//! (the approval-required policy), and how each was decided.

use crate::domain::break_glass::machine::Request;
use crate::domain::break_glass::{Approval, BypassDuration, BypassScope, Reason};
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
        "SELECT requested_at, decide_by, requested_by, reason, duration_minutes, \
         overrides_review_of, scope FROM break_glass_requests WHERE state = 'pending'",
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
            overrides_review_of: r.get("overrides_review_of"),
            scope: BypassScope::from_stored(r.get::<Option<&str>, _>("scope"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        })
    })
    .transpose()
}

/// Stores a new request; `None` when the store refuses it because a request already waits or
/// a window is open (another writer got there first).
pub async fn insert(conn: &mut Conn, request: &Request) -> Result<Option<i64>, sqlx::Error> {
    let inserted = sqlx::query_scalar(
        "INSERT INTO break_glass_requests \
         (requested_at, decide_by, requested_by, reason, duration_minutes, overrides_review_of, \
         scope) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(to_millis(request.requested_at))
    .bind(to_millis(request.decide_by))
    .bind(&request.requested_by)
    .bind(request.reason.as_str())
    .bind(i64::from(request.duration.minutes()))
    .bind(request.overrides_review_of)
    .bind(request.scope.to_stored())
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

/// The approved request that opened window `window_id`, if one did.
pub async fn approval_of(pool: &Pool, window_id: i64) -> Result<Option<Approval>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT requested_at, requested_by, decided_at, decided_by, note, overrides_review_of \
         FROM break_glass_requests WHERE window_id = $1 AND state = 'approved'",
    )
    .bind(window_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Approval {
        requested_at: from_millis(r.get("requested_at")),
        requested_by: r.get("requested_by"),
        approved_at: from_millis(r.get::<Option<i64>, _>("decided_at").unwrap_or_default()),
        approved_by: r.get::<Option<String>, _>("decided_by").unwrap_or_default(),
        note: r.get::<Option<String>, _>("note").unwrap_or_default(),
        overrides_review_of: r.get("overrides_review_of"),
    }))
}

/// The approvers of the newest `limit` approved windows, by window id.
pub async fn approvers(
    pool: &Pool,
    limit: u32,
) -> Result<std::collections::HashMap<i64, String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT window_id, decided_by FROM break_glass_requests \
         WHERE state = 'approved' AND window_id IS NOT NULL ORDER BY window_id DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("window_id"), r.get("decided_by")))
        .collect())
}
