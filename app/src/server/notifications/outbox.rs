//! The `notification_outbox` table: one row per notification and channel, written in the
//! transaction of the event it tells of; claimed by one worker at a time with a lease (so
//! that several replicas send each notification once while they live, and another replica
//! takes over a claim whose worker died); kept as the delivery log.

use crate::domain::alerts::Severity;
use crate::domain::notifications::{Channel, Delivery, DeliveryStatus, Message, Notice, Topic};
use crate::server::database::{from_millis, to_millis, Conn, Pool, Row};
use crate::server::secrets::random_hex;
use chrono::{DateTime, Utc};
use sqlx::Row as _;

const COLUMNS: &str = "id, channel_id, channel_name, idempotency_key, topic, created_at, \
    severity, title, message, window_id, link, status, attempts, next_attempt_at, \
    last_attempt_at, last_error, delivered_at";

/// Caps of what one row holds (the migration's checks): a longer text is cut, never refused,
/// so that an event is never lost for its notification's length.
const TITLE_MAX: usize = 300;
const DEFAULT_LINK: &str = "/configuration";
const MESSAGE_MAX: usize = 4000;
const ERROR_MAX: usize = 500;

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn severity(raw: &str) -> Severity {
    match raw {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        _ => Severity::Info,
    }
}

fn delivery(r: &Row) -> Delivery {
    let status = DeliveryStatus::parse(r.get("status")).unwrap_or(DeliveryStatus::Failed);
    Delivery {
        id: r.get("id"),
        channel: r.get("channel_name"),
        topic: Topic::parse(r.get("topic")).unwrap_or(Topic::Test),
        title: r.get("title"),
        created_at: from_millis(r.get("created_at")),
        status,
        attempts: r.get("attempts"),
        next_attempt_at: (status == DeliveryStatus::Pending)
            .then(|| from_millis(r.get("next_attempt_at"))),
        last_attempt_at: r.get::<Option<i64>, _>("last_attempt_at").map(from_millis),
        last_error: r.get("last_error"),
        delivered_at: r.get::<Option<i64>, _>("delivered_at").map(from_millis),
        idempotency_key: r.get("idempotency_key"),
    }
}

/// Writes `notice` for every channel subscribed to its topic, on `conn` (the event's own
/// transaction: the notification exists exactly when the event does).
pub async fn enqueue(conn: &mut Conn, notice: &Notice) -> Result<(), sqlx::Error> {
    for channel in super::channels::subscribed(conn, notice.topic).await? {
        enqueue_for(conn, &channel, notice).await?;
    }
    Ok(())
}

/// Writes `notice` for `channel`, on `conn`.
pub async fn enqueue_for(
    conn: &mut Conn,
    channel: &Channel,
    notice: &Notice,
) -> Result<Delivery, sqlx::Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO notification_outbox \
         (channel_id, channel_name, idempotency_key, topic, created_at, severity, title, \
          message, window_id, link, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $5) RETURNING {COLUMNS}"
    ))
    .bind(channel.id)
    .bind(&channel.name)
    .bind(format!("bg-{}", random_hex(16)))
    .bind(notice.topic.as_str())
    .bind(to_millis(notice.at))
    .bind(notice.severity.as_str())
    .bind(cut(&notice.title, TITLE_MAX))
    .bind(cut(&notice.message, MESSAGE_MAX))
    .bind(notice.window_id)
    // Without a page of its own, a notification leads to the Configuration panel, where the
    // Break-Glass card and the banner show the state.
    .bind(notice.link.as_deref().unwrap_or(DEFAULT_LINK))
    .fetch_one(conn)
    .await?;
    Ok(delivery(&row))
}

/// The newest `limit` deliveries, for the log.
pub async fn recent(pool: &Pool, limit: u32) -> Result<Vec<Delivery>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_outbox ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(delivery).collect())
}

/// A notification a worker holds the lease of: its message (the link still a path) and the
/// channel it goes to (none once removed).
pub struct Claimed {
    pub id: i64,
    pub channel_id: Option<i64>,
    pub attempts: i64,
    pub message: Message,
}

/// Leases up to `limit` due notifications to `owner` until `lease_until`. One statement with
/// its conditions on the row itself, so that two replicas claiming at once never both get a
/// row: on PostgreSQL the second re-reads a row the first updated and finds it leased.
pub async fn claim(
    pool: &Pool,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let due = "status = 'pending' AND next_attempt_at <= $2 \
               AND (lease_until IS NULL OR lease_until < $2)";
    let rows = sqlx::query(&format!(
        "UPDATE notification_outbox SET lease_owner = $1, lease_until = $3 \
         WHERE {due} AND id IN (SELECT id FROM notification_outbox WHERE {due} \
                                ORDER BY next_attempt_at, id LIMIT $4) \
         RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(to_millis(now))
    .bind(to_millis(lease_until))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Claimed {
            id: r.get("id"),
            channel_id: r.get("channel_id"),
            attempts: r.get("attempts"),
            message: Message {
                idempotency_key: r.get("idempotency_key"),
                topic: Topic::parse(r.get("topic")).unwrap_or(Topic::Test),
                severity: severity(r.get("severity")),
                at: from_millis(r.get("created_at")),
                title: r.get("title"),
                message: r.get("message"),
                window_id: r.get("window_id"),
                link: r.get("link"),
            },
        })
        .collect())
}

/// Records an attempt by the lease's `owner`: delivered, or failed with `error` and retried at
/// `retry_at` (`None`: given up). `false` if the lease was lost meanwhile.
pub async fn attempted(
    pool: &Pool,
    id: i64,
    owner: &str,
    at: DateTime<Utc>,
    outcome: Result<(), (&str, Option<DateTime<Utc>>)>,
) -> Result<bool, sqlx::Error> {
    let (status, error, next) = match outcome {
        Ok(()) => (DeliveryStatus::Delivered, None, at),
        Err((error, Some(retry_at))) => (DeliveryStatus::Pending, Some(error), retry_at),
        Err((error, None)) => (DeliveryStatus::Failed, Some(error), at),
    };
    let done = sqlx::query(
        "UPDATE notification_outbox SET status = $1, attempts = attempts + 1, \
         last_attempt_at = $2, last_error = $3, next_attempt_at = $4, \
         delivered_at = CASE WHEN $1 = 'delivered' THEN $2 ELSE NULL END, \
         lease_owner = NULL, lease_until = NULL \
         WHERE id = $5 AND lease_owner = $6 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(to_millis(at))
    .bind(error.map(|e| cut(e, ERROR_MAX)))
    .bind(to_millis(next))
    .bind(id)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
