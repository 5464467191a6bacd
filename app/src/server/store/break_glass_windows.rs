//! The `break_glass_windows` table (every window, its end and its review) and
//! `break_glass_extensions` (each move of an open window's end).

use crate::domain::break_glass::machine::{
    AckState, Acknowledgement, EndKind, Ended, ExtensionAsk, Lifecycle, Window,
};
use crate::domain::break_glass::status::ActivatedWindow;
use crate::domain::break_glass::{
    AwaitingReview, EndedWindow, SignOff, WindowExtension, WindowPick,
};
use crate::domain::break_glass::{BypassDuration, BypassScope, ExtensionMinutes, Reason};
use crate::server::database::{from_millis, to_millis, Conn, Pool};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;

/// Why a window could not be inserted although the service's own state allowed it: another
/// writer (a concurrent request or, later, another replica) got there first.
pub enum InsertRefused {
    OpenWindowExists,
    CoolingDown,
    Db(sqlx::Error),
}

/// The lifecycle as stored: the open window if any, else the cool-down after the last end.
/// Ticking it to `now` is the caller's job. A window stored without a due time for its
/// acknowledgement (written by an older version) is due `ack_within` after its activation.
pub async fn load(pool: &Pool, ack_within: TimeDelta) -> Result<Lifecycle, sqlx::Error> {
    let open = sqlx::query(
        "SELECT activated_at, expires_at, duration_minutes, reason, activated_by, ack_due_at, \
         acknowledged_at, acknowledged_by, ack_overdue_at, ext_ask_minutes, ext_ask_reason, \
         ext_ask_by, ext_ask_at, ext_ask_decide_by, scope, drill \
         FROM break_glass_windows WHERE ended_at IS NULL",
    )
    .fetch_optional(pool)
    .await?;
    if let Some(r) = open {
        let reason: String = r.get("reason");
        let activated_at = from_millis(r.get("activated_at"));
        let extension_request = match (
            r.get::<Option<i64>, _>("ext_ask_minutes"),
            r.get::<Option<String>, _>("ext_ask_reason"),
            r.get::<Option<String>, _>("ext_ask_by"),
            r.get::<Option<i64>, _>("ext_ask_at"),
            r.get::<Option<i64>, _>("ext_ask_decide_by"),
        ) {
            (Some(minutes), Some(reason), Some(by), Some(at), Some(decide_by)) => {
                Some(ExtensionAsk {
                    minutes: ExtensionMinutes::parse(minutes)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    reason: Reason::parse(&reason).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    requested_by: by,
                    requested_at: from_millis(at),
                    decide_by: from_millis(decide_by),
                })
            }
            _ => None,
        };
        let window = Window {
            extension_request,
            scope: BypassScope::from_stored(r.get::<Option<&str>, _>("scope"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            drill: r.get::<i64, _>("drill") != 0,
            activated_at,
            expires_at: from_millis(r.get("expires_at")),
            duration: BypassDuration::parse(r.get("duration_minutes"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            reason: Reason::parse(&reason).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            activated_by: r.get("activated_by"),
            acknowledgement: Acknowledgement {
                due_at: r
                    .get::<Option<i64>, _>("ack_due_at")
                    .map_or_else(|| activated_at + ack_within, from_millis),
                state: match (
                    r.get::<Option<i64>, _>("acknowledged_at"),
                    r.get::<Option<String>, _>("acknowledged_by"),
                    r.get::<Option<i64>, _>("ack_overdue_at"),
                ) {
                    (Some(at), Some(by), _) => AckState::Acknowledged {
                        at: from_millis(at),
                        by,
                    },
                    (_, _, Some(_)) => AckState::Overdue,
                    _ => AckState::Pending,
                },
            },
        };
        return Ok(Lifecycle::Active(window));
    }
    let last_end: Option<i64> =
        sqlx::query_scalar("SELECT MAX(ended_at) FROM break_glass_windows WHERE drill = 0")
            .fetch_one(pool)
            .await?;
    Ok(last_end.map_or(Lifecycle::Inactive, |e| {
        Lifecycle::after_end(from_millis(e))
    }))
}

pub async fn insert(
    conn: &mut crate::server::database::Conn,
    w: &Window,
) -> Result<i64, InsertRefused> {
    sqlx::query_scalar(
        "INSERT INTO break_glass_windows \
         (activated_at, expires_at, duration_minutes, reason, activated_by, ack_due_at, scope, \
         drill) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(to_millis(w.activated_at))
    .bind(to_millis(w.expires_at))
    .bind(i64::from(w.duration.minutes()))
    .bind(w.reason.as_str())
    .bind(&w.activated_by)
    .bind(to_millis(w.acknowledgement.due_at))
    .bind(w.scope.to_stored())
    .bind(i64::from(w.drill))
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
    conn: &mut crate::server::database::Conn,
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

pub async fn recent(pool: &Pool, limit: u32) -> Result<Vec<WindowPick>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT w.id, w.activated_at, w.expires_at, w.duration_minutes, w.reason, \
         w.activated_by, w.ended_at, w.acknowledged_by, w.scope, w.drill, \
         (SELECT COUNT(*) FROM break_glass_extensions e WHERE e.window_id = w.id) AS extensions \
         FROM break_glass_windows w ORDER BY w.activated_at DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WindowPick {
                window: ActivatedWindow {
                    id: r.get("id"),
                    activated_at: from_millis(r.get("activated_at")),
                    expires_at: from_millis(r.get("expires_at")),
                    duration_minutes: u32::try_from(r.get::<i64, _>("duration_minutes"))
                        .unwrap_or_default(),
                    reason: r.get("reason"),
                    activated_by: r.get("activated_by"),
                    scope: stored_scope(r)?.describe(),
                    drill: r.get::<i64, _>("drill") != 0,
                },
                ended_at: r.get::<Option<i64>, _>("ended_at").map(from_millis),
                approved_by: None,
                acknowledged_by: r.get("acknowledged_by"),
                extensions: r.get("extensions"),
            })
        })
        .collect()
}

fn stored_scope(r: &sqlx::any::AnyRow) -> Result<BypassScope, sqlx::Error> {
    BypassScope::from_stored(r.get::<Option<&str>, _>("scope"))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The real windows (not drills) that overlap `from..to`: when each began and when it ended
/// (or ends).
pub async fn overlapping(
    pool: &Pool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT activated_at, COALESCE(ended_at, expires_at) AS until FROM break_glass_windows \
         WHERE drill = 0 AND activated_at < $1 AND COALESCE(ended_at, expires_at) > $2 \
         ORDER BY activated_at",
    )
    .bind(to_millis(to))
    .bind(to_millis(from))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                from_millis(r.get("activated_at")),
                from_millis(r.get("until")),
            )
        })
        .collect())
}

/// The id of the newest window that was open at `at`.
pub async fn open_at(conn: &mut Conn, at: DateTime<Utc>) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM break_glass_windows WHERE activated_at <= $1 \
         AND COALESCE(ended_at, expires_at) >= $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(to_millis(at))
    .bind(to_millis(at))
    .fetch_optional(conn)
    .await
}

/// What a review finds of a window: none by that id, one still open, or an ended one.
pub enum ForReview {
    NoSuchWindow,
    StillOpen,
    Ended(Box<EndedWindow>),
}

/// Window `id` as its review shows it.
pub async fn for_review(pool: &Pool, id: i64) -> Result<ForReview, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, activated_at, expires_at, duration_minutes, reason, activated_by, \
         ended_at, end_kind, ended_by, unscanned_count, reviewed_at, reviewed_by, \
         review_notes, acknowledged_at, acknowledged_by, ack_note, ack_overdue_at, scope, drill \
         FROM break_glass_windows WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(ForReview::NoSuchWindow);
    };
    let Some(ended_at) = row.get::<Option<i64>, _>("ended_at") else {
        return Ok(ForReview::StillOpen);
    };
    let stored = row.get::<Option<String>, _>("end_kind");
    let end_kind = stored.as_deref().and_then(EndKind::parse).ok_or_else(|| {
        sqlx::Error::Decode(format!("window #{id} has no known end kind: {stored:?}").into())
    })?;
    let reviewed = match (
        row.get::<Option<i64>, _>("reviewed_at"),
        row.get::<Option<String>, _>("reviewed_by"),
        row.get::<Option<String>, _>("review_notes"),
    ) {
        (Some(at), Some(by), Some(notes)) => Some(SignOff {
            at: from_millis(at),
            by,
            notes,
        }),
        _ => None,
    };
    Ok(ForReview::Ended(Box::new(EndedWindow {
        id,
        activated_at: from_millis(row.get("activated_at")),
        expires_at: from_millis(row.get("expires_at")),
        duration_minutes: row.get("duration_minutes"),
        reason: row.get("reason"),
        activated_by: row.get("activated_by"),
        ended_at: from_millis(ended_at),
        end_kind,
        ended_by: row.get::<Option<String>, _>("ended_by").unwrap_or_default(),
        unscanned_count: row
            .get::<Option<i64>, _>("unscanned_count")
            .unwrap_or_default(),
        acknowledged: match (
            row.get::<Option<i64>, _>("acknowledged_at"),
            row.get::<Option<String>, _>("acknowledged_by"),
            row.get::<Option<String>, _>("ack_note"),
        ) {
            (Some(at), Some(by), Some(notes)) => Some(SignOff {
                at: from_millis(at),
                by,
                notes,
            }),
            _ => None,
        },
        ack_overdue: row.get::<Option<i64>, _>("ack_overdue_at").is_some(),
        extensions: extensions(pool, id).await?,
        approval: None,
        scope: stored_scope(&row)?.describe(),
        drill: row.get::<i64, _>("drill") != 0,
        reviewed,
    })))
}

/// Moves the end of the open window `before` to that of `after` and records who did it and
/// why, in the caller's transaction. Returns the window's id, or `None` when the stored window
/// is no longer `before` (another writer ended or extended it first).
pub async fn extend(
    conn: &mut Conn,
    before: &Window,
    after: &Window,
    at: DateTime<Utc>,
    by: &str,
    reason: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE break_glass_windows SET duration_minutes = $1, expires_at = $2 \
         WHERE ended_at IS NULL AND activated_at = $3 AND expires_at = $4 RETURNING id",
    )
    .bind(i64::from(after.duration.minutes()))
    .bind(to_millis(after.expires_at))
    .bind(to_millis(before.activated_at))
    .bind(to_millis(before.expires_at))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO break_glass_extensions \
         (window_id, at, extended_by, minutes, reason, expires_before, expires_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(to_millis(at))
    .bind(by)
    .bind(i64::from(
        after.duration.minutes() - before.duration.minutes(),
    ))
    .bind(reason)
    .bind(to_millis(before.expires_at))
    .bind(to_millis(after.expires_at))
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}

/// Stores the extension asked for on the open window `w`; `None` when the window is no
/// longer open or an extension already waits (another writer first).
pub async fn ask_extension(
    conn: &mut Conn,
    w: &Window,
    ask: &ExtensionAsk,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE break_glass_windows SET ext_ask_minutes = $1, ext_ask_reason = $2, \
         ext_ask_by = $3, ext_ask_at = $4, ext_ask_decide_by = $5 \
         WHERE ended_at IS NULL AND activated_at = $6 AND ext_ask_at IS NULL RETURNING id",
    )
    .bind(i64::from(ask.minutes.minutes()))
    .bind(ask.reason.as_str())
    .bind(&ask.requested_by)
    .bind(to_millis(ask.requested_at))
    .bind(to_millis(ask.decide_by))
    .bind(to_millis(w.activated_at))
    .fetch_optional(conn)
    .await
}

/// Takes the decided (or lapsed) extension `ask` off the open window `w`; `None` when it no
/// longer waits there (decided elsewhere first, or the window ended).
pub async fn clear_extension_ask(
    conn: &mut Conn,
    w: &Window,
    ask: &ExtensionAsk,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE break_glass_windows SET ext_ask_minutes = NULL, ext_ask_reason = NULL, \
         ext_ask_by = NULL, ext_ask_at = NULL, ext_ask_decide_by = NULL \
         WHERE ended_at IS NULL AND activated_at = $1 AND ext_ask_at = $2 RETURNING id",
    )
    .bind(to_millis(w.activated_at))
    .bind(to_millis(ask.requested_at))
    .fetch_optional(conn)
    .await
}

/// Records `by`'s acknowledgement of the open window `w`, with their note. Returns the
/// window's id, or `None` when it is no longer open or someone acknowledged it first.
pub async fn acknowledge(
    conn: &mut Conn,
    w: &Window,
    at: DateTime<Utc>,
    by: &str,
    note: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE break_glass_windows SET acknowledged_at = $1, acknowledged_by = $2, \
         ack_note = $3 WHERE ended_at IS NULL AND activated_at = $4 AND acknowledged_at IS NULL \
         RETURNING id",
    )
    .bind(to_millis(at))
    .bind(by)
    .bind(note)
    .bind(to_millis(w.activated_at))
    .fetch_optional(conn)
    .await
}

/// Records that the open window `w` went unacknowledged past its due time, once: `None`
/// when another replica recorded it first, or the window was acknowledged or ended meanwhile.
pub async fn mark_overdue(conn: &mut Conn, w: &Window) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE break_glass_windows SET ack_overdue_at = $1 WHERE ended_at IS NULL \
         AND activated_at = $2 AND acknowledged_at IS NULL AND ack_overdue_at IS NULL \
         RETURNING id",
    )
    .bind(to_millis(w.acknowledgement.due_at))
    .bind(to_millis(w.activated_at))
    .fetch_optional(conn)
    .await
}

/// The extensions of window `id`, oldest first.
pub async fn extensions(pool: &Pool, id: i64) -> Result<Vec<WindowExtension>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, extended_by, minutes, reason, expires_before, expires_after \
         FROM break_glass_extensions WHERE window_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| WindowExtension {
            at: from_millis(r.get("at")),
            by: r.get("extended_by"),
            minutes: r.get("minutes"),
            reason: r.get("reason"),
            expires_before: from_millis(r.get("expires_before")),
            expires_after: from_millis(r.get("expires_after")),
        })
        .collect())
}

/// Signs off ended window `id` once: false when it is open or was signed off already.
pub async fn sign_off(
    conn: &mut Conn,
    id: i64,
    at: DateTime<Utc>,
    by: &str,
    notes: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE break_glass_windows SET reviewed_at = $1, reviewed_by = $2, review_notes = $3 \
         WHERE id = $4 AND ended_at IS NOT NULL AND reviewed_at IS NULL",
    )
    .bind(to_millis(at))
    .bind(by)
    .bind(notes)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ended windows without a review, newest first, at most `limit`.
pub async fn awaiting_review(pool: &Pool, limit: i64) -> Result<Vec<AwaitingReview>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, activated_at, ended_at, activated_by, unscanned_count, drill \
         FROM break_glass_windows WHERE ended_at IS NOT NULL AND reviewed_at IS NULL \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AwaitingReview {
            id: r.get("id"),
            activated_at: from_millis(r.get("activated_at")),
            ended_at: from_millis(r.get("ended_at")),
            activated_by: r.get("activated_by"),
            unscanned_count: r
                .get::<Option<i64>, _>("unscanned_count")
                .unwrap_or_default(),
            drill: r.get::<i64, _>("drill") != 0,
        })
        .collect())
}

/// The newest real window (not a drill) that ended and waits for its review: what the
/// policy's review gate waits on.
pub async fn gating_review(pool: &Pool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM break_glass_windows WHERE ended_at IS NOT NULL AND reviewed_at IS NULL \
         AND drill = 0 ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
}

/// When the newest drill started, if there was one.
pub async fn last_drill(pool: &Pool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT MAX(activated_at) FROM break_glass_windows WHERE drill = 1")
            .fetch_one(pool)
            .await?;
    Ok(at.map(from_millis))
}
