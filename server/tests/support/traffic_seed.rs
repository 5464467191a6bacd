//! Synthetic Traffic Monitor data on PostgreSQL, shared by the plan test and the benchmark.

use chrono::{DateTime, TimeDelta, Utc};

/// Seeds records `first..last` over the week before `now`: three sources, eight models, four
/// providers; verdicts 85% ALLOW, 8% REVIEW, 4% BLOCK, 3% BYPASSED (no score).
pub async fn seed(pool: &app::server::database::Pool, first: i64, last: i64, now: DateTime<Utc>) {
    let week_ms = TimeDelta::days(7).num_milliseconds();
    sqlx::query(
        "INSERT INTO traffic (at, source, model, provider, verdict, score, http_status) \
         SELECT $1 - (i * 7919) % $2, \
                (ARRAY['litellm', 'session-watcher', 'break-glass'])[1 + i % 3], \
                'model-' || (i % 8), \
                (ARRAY['openai', 'anthropic', 'google', 'mistral'])[1 + i % 4], \
                v.verdict, \
                CASE WHEN v.verdict = 'BYPASSED' THEN NULL \
                     WHEN v.verdict = 'BLOCK' THEN 70 + (i % 31) \
                     WHEN v.verdict = 'REVIEW' THEN 40 + (i % 30) \
                     ELSE i % 40 END, \
                200 \
         FROM generate_series($3::bigint, $4::bigint) AS i, \
              LATERAL (SELECT CASE WHEN i % 100 < 85 THEN 'ALLOW' \
                                   WHEN i % 100 < 93 THEN 'REVIEW' \
                                   WHEN i % 100 < 97 THEN 'BLOCK' \
                                   ELSE 'BYPASSED' END AS verdict) v",
    )
    .bind(now.timestamp_millis())
    .bind(week_ms)
    .bind(first)
    .bind(last - 1)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE traffic")
        .execute(pool)
        .await
        .unwrap();
}
