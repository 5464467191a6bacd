//! The `notification_channels` table: where notifications go. Its secrets are stored sealed
//! (or as `env:NAME`) and leave this module only as the worker's `Destination`.

use crate::domain::notifications::{Channel, ChannelKind, ChannelSpec, SecretSource, Topic};
use crate::server::database::{from_millis, to_millis, Conn, Pool, Row};
use chrono::{DateTime, Utc};
use sqlx::Row as _;

const COLUMNS: &str = "id, name, kind, endpoint, secret, mail_from, mail_to, smtp_user, topics, \
    created_at, created_by";

/// A channel as the worker needs it: where to send, and the secret as stored.
#[derive(Clone)]
pub struct StoredChannel {
    pub channel: Channel,
    /// `sealed:v1:…`, `env:NAME`, or none.
    pub secret: Option<String>,
}

fn from_row(r: &Row) -> StoredChannel {
    let secret: Option<String> = r.get("secret");
    let source = match secret.as_deref() {
        None => SecretSource::None,
        Some(s) if s.starts_with("env:") => SecretSource::Environment,
        Some(_) => SecretSource::Stored,
    };
    let list = |column: &str| -> Vec<String> {
        r.get::<Option<String>, _>(column)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    StoredChannel {
        channel: Channel {
            id: r.get("id"),
            name: r.get("name"),
            kind: ChannelKind::parse(r.get("kind")).unwrap_or(ChannelKind::Webhook),
            endpoint: r.get("endpoint"),
            secret: source,
            mail_from: r.get("mail_from"),
            mail_to: list("mail_to"),
            smtp_user: r.get("smtp_user"),
            topics: list("topics")
                .iter()
                .filter_map(|t| Topic::parse(t))
                .collect(),
            created_at: from_millis(r.get("created_at")),
            created_by: r.get("created_by"),
        },
        secret,
    }
}

/// Stores `spec` with its secret already sealed (or an `env:` reference). `None` when the
/// name is taken.
pub async fn insert(
    conn: &mut Conn,
    spec: &ChannelSpec,
    secret: Option<String>,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Option<StoredChannel>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO notification_channels \
         (name, kind, endpoint, secret, mail_from, mail_to, smtp_user, topics, created_at, \
          created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (name) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(&spec.name)
    .bind(spec.kind.as_str())
    .bind(spec.endpoint.as_deref())
    .bind(secret)
    .bind(spec.mail_from.as_deref())
    .bind((!spec.mail_to.is_empty()).then(|| spec.mail_to.join(",")))
    .bind(spec.smtp_user.as_deref())
    .bind(
        spec.topics
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
    .bind(to_millis(at))
    .bind(by)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn list(pool: &Pool) -> Result<Vec<Channel>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_channels ORDER BY name"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| from_row(r).channel).collect())
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<StoredChannel>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// Every channel that subscribes to `topic`.
pub async fn subscribed(conn: &mut Conn, topic: Topic) -> Result<Vec<Channel>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM notification_channels"))
        .fetch_all(conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| from_row(r).channel)
        .filter(|c| c.topics.contains(&topic))
        .collect())
}

/// Removes a channel; its name, or `None` if there was none with `id`.
pub async fn delete(conn: &mut Conn, id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("DELETE FROM notification_channels WHERE id = $1 RETURNING name")
        .bind(id)
        .fetch_optional(conn)
        .await
}
