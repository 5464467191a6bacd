use crate::domain::login_throttle::{Scope, QUIET};
use crate::server::database::{from_millis, to_millis, Conn, Pool};
use chrono::{DateTime, Utc};

/// The keys of one attempt's counters.
pub struct Attempt<'a> {
    pub username: &'a str,
    pub source: &'a str,
}

impl Attempt<'_> {
    fn key(&self, scope: Scope) -> String {
        match scope {
            Scope::Account => self.username.to_owned(),
            Scope::Source => self.source.to_owned(),
            Scope::Pair => format!("{}\n{}", self.username, self.source),
        }
    }
}

/// Until when this attempt must wait, if it must: the latest `blocked_until` of its
/// counters (the account's only for an address its owner has not used).
pub async fn blocked_until(
    pool: &Pool,
    attempt: &Attempt<'_>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let known: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM login_known_sources WHERE username = $1 AND source = $2",
    )
    .bind(attempt.username)
    .bind(attempt.source)
    .fetch_one(pool)
    .await?;
    let known = known > 0;
    let mut until: Option<i64> = None;
    for scope in [Scope::Pair, Scope::Source, Scope::Account] {
        if scope == Scope::Account && known {
            continue;
        }
        let blocked: Option<i64> = sqlx::query_scalar(
            "SELECT blocked_until FROM login_throttle WHERE scope = $1 AND key = $2 \
             AND blocked_until > $3",
        )
        .bind(scope.as_str())
        .bind(attempt.key(scope))
        .bind(to_millis(now))
        .fetch_optional(pool)
        .await?;
        until = until.max(blocked);
    }
    Ok(until.map(from_millis))
}

/// Counts a failure against each of the attempt's counters; returns their new counts.
pub async fn count_failure(
    conn: &mut Conn,
    attempt: &Attempt<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(Scope, i64)>, sqlx::Error> {
    let mut counts = Vec::with_capacity(3);
    for scope in [Scope::Account, Scope::Source, Scope::Pair] {
        let key = attempt.key(scope);
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_throttle (scope, key, failures, last_failure_at, blocked_until) \
             VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (scope, key) DO UPDATE SET \
             failures = CASE WHEN login_throttle.last_failure_at < $4 THEN 1 \
             ELSE login_throttle.failures + 1 END, last_failure_at = $3 \
             RETURNING failures",
        )
        .bind(scope.as_str())
        .bind(&key)
        .bind(to_millis(now))
        .bind(to_millis(now - QUIET))
        .fetch_one(&mut *conn)
        .await?;
        let until = now + scope.delay_after(failures);
        sqlx::query(
            "UPDATE login_throttle SET blocked_until = $1 \
             WHERE scope = $2 AND key = $3 AND blocked_until < $1",
        )
        .bind(to_millis(until))
        .bind(scope.as_str())
        .bind(&key)
        .execute(&mut *conn)
        .await?;
        counts.push((scope, failures));
    }
    Ok(counts)
}

/// A successful login: the account-from-this-address counter starts over, and the
/// address becomes one of the owner's.
pub async fn count_success(
    conn: &mut Conn,
    attempt: &Attempt<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE scope = $1 AND key = $2")
        .bind(Scope::Pair.as_str())
        .bind(attempt.key(Scope::Pair))
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO login_known_sources (username, source, last_login_at) VALUES ($1, $2, $3) \
         ON CONFLICT (username, source) DO UPDATE SET last_login_at = $3",
    )
    .bind(attempt.username)
    .bind(attempt.source)
    .bind(to_millis(now))
    .execute(&mut *conn)
    .await
    .map(drop)
}

/// The accounts and addresses with the most failures since `since`, for the alert.
pub async fn recent_failures(
    pool: &Pool,
    since: DateTime<Utc>,
) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>), sqlx::Error> {
    let mut lists = (Vec::new(), Vec::new());
    for (scope, list) in [
        (Scope::Account, &mut lists.0),
        (Scope::Source, &mut lists.1),
    ] {
        *list = sqlx::query_as(
            "SELECT key, failures FROM login_throttle WHERE scope = $1 AND last_failure_at >= $2 \
             ORDER BY failures DESC, key LIMIT 10",
        )
        .bind(scope.as_str())
        .bind(to_millis(since))
        .fetch_all(pool)
        .await?;
    }
    Ok(lists)
}
