//! LLM traffic records: what went through, how it was judged, or that it was not (BYPASSED).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "ALLOW")]
    Allow,
    #[serde(rename = "REVIEW")]
    Review,
    #[serde(rename = "BLOCK")]
    Block,
    #[serde(rename = "BYPASSED")]
    Bypassed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "ALLOW",
            Verdict::Review => "REVIEW",
            Verdict::Block => "BLOCK",
            Verdict::Bypassed => "BYPASSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Verdict::Allow,
            Verdict::Review,
            Verdict::Block,
            Verdict::Bypassed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub source: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub verdict: Verdict,
    pub score: Option<i64>,
    pub latency_ms: Option<i64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub http_status: Option<i64>,
}

pub const SOURCE_LITELLM: &str = "litellm";
pub const SOURCE_BREAK_GLASS: &str = "break-glass";

#[cfg(feature = "ssr")]
pub use store::{count_bypassed, insert, recent, NewTraffic};

#[cfg(feature = "ssr")]
mod store {
    use super::{TrafficRecord, Verdict};
    use crate::database::{from_millis, to_millis, Pool};
    use crate::shield::Detection;
    use chrono::{DateTime, Utc};
    use sqlx::Row;

    /// One request as the gateway saw it.
    #[derive(Clone, Debug)]
    pub struct NewTraffic {
        pub at: DateTime<Utc>,
        pub source: &'static str,
        pub model: Option<String>,
        pub provider: Option<String>,
        pub verdict: Verdict,
        pub score: Option<u8>,
        pub detections: Vec<Detection>,
        pub latency_ms: i64,
        pub tokens_in: Option<i64>,
        pub tokens_out: Option<i64>,
        pub http_status: u16,
        pub api_key_id: i64,
        pub session_id: Option<String>,
        pub request_id: String,
        /// Kept only for BYPASSED traffic, so that it can be scanned after the fact.
        pub request_text: Option<String>,
        pub response_text: Option<String>,
    }

    pub async fn insert(pool: &Pool, t: &NewTraffic) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO traffic (at, source, model, provider, verdict, score, detections, \
             latency_ms, tokens_in, tokens_out, http_status, api_key_id, session_id, request_id, \
             request_text, response_text) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(to_millis(t.at))
        .bind(t.source)
        .bind(&t.model)
        .bind(&t.provider)
        .bind(t.verdict.as_str())
        .bind(t.score.map(i64::from))
        .bind(serde_json::to_string(&t.detections).unwrap_or_else(|_| "[]".into()))
        .bind(t.latency_ms)
        .bind(t.tokens_in)
        .bind(t.tokens_out)
        .bind(i64::from(t.http_status))
        .bind(t.api_key_id)
        .bind(&t.session_id)
        .bind(&t.request_id)
        .bind(&t.request_text)
        .bind(&t.response_text)
        .fetch_one(pool)
        .await
    }

    /// BYPASSED records between `from` and `to` inclusive: the traffic no shield saw.
    pub async fn count_bypassed(
        conn: &mut sqlx::SqliteConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM traffic WHERE verdict = 'BYPASSED' AND at >= ? AND at <= ?",
        )
        .bind(to_millis(from))
        .bind(to_millis(to))
        .fetch_one(conn)
        .await
    }

    pub async fn recent(pool: &Pool, limit: u32) -> Result<Vec<TrafficRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, at, source, model, provider, verdict, score, latency_ms, tokens_in, \
             tokens_out, http_status FROM traffic ORDER BY at DESC, id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(TrafficRecord {
                    id: r.get("id"),
                    at: from_millis(r.get("at")),
                    source: r.get("source"),
                    model: r.get("model"),
                    provider: r.get("provider"),
                    verdict: Verdict::parse(r.get("verdict"))?,
                    score: r.get("score"),
                    latency_ms: r.get("latency_ms"),
                    tokens_in: r.get("tokens_in"),
                    tokens_out: r.get("tokens_out"),
                    http_status: r.get("http_status"),
                })
            })
            .collect())
    }
}
