//! Throttling failed logins, as NIST SP 800-63B asks (rate limiting, never a lockout): each
//! failure counts against the account, against the source address, and against the account
//! from that address; past a few free failures each counter delays the next attempt, twice as
//! long each time, up to `MAX_DELAY`. A counter starts over after `QUIET` without failures.
//! The account's counter does not hold back an address its owner has logged in from, so a
//! stranger hammering an account cannot keep its owner out. Counting is one atomic upsert per
//! counter: concurrent failures each count.

use chrono::TimeDelta;

/// The longest delay any counter imposes.
pub const MAX_DELAY: TimeDelta = TimeDelta::minutes(5);
/// A counter without a failure for this long starts over.
pub const QUIET: TimeDelta = TimeDelta::hours(1);
/// A burst: this many failures on one account or from one address raises a HIGH alert.
pub const ALERT_AT: i64 = 10;
/// Usernames are kept (in counters and the audit trail) up to this many characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// What a failure counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The account, from anywhere (but its owner's known addresses).
    Account,
    /// The source address, for any account.
    Source,
    /// The account from this address.
    Pair,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Source => "source",
            Scope::Pair => "pair",
        }
    }

    /// Failures that cost nothing before delays begin.
    fn free(self) -> i64 {
        match self {
            Scope::Pair => 3,
            Scope::Account | Scope::Source => 10,
        }
    }

    /// The delay before the next attempt after `failures` failures.
    pub fn delay_after(self, failures: i64) -> TimeDelta {
        let over = failures - self.free();
        if over <= 0 {
            return TimeDelta::zero();
        }
        let seconds = 1i64 << (over - 1).min(20);
        TimeDelta::seconds(seconds).min(MAX_DELAY)
    }
}

/// `username` as counters and the audit trail keep it: at most `MAX_USERNAME_CHARS`
/// characters, and whether it was cut.
pub fn kept_username(username: &str) -> (String, bool) {
    match username.char_indices().nth(MAX_USERNAME_CHARS) {
        None => (username.to_owned(), false),
        Some((end, _)) => (username[..end].to_owned(), true),
    }
}

#[cfg(feature = "ssr")]
pub use store::*;

#[cfg(feature = "ssr")]
mod store {
    use super::{Scope, QUIET};
    use crate::database::{from_millis, to_millis, Conn, Pool};
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_double_and_stop_at_the_cap() {
        assert_eq!(Scope::Pair.delay_after(3), TimeDelta::zero());
        assert_eq!(Scope::Pair.delay_after(4), TimeDelta::seconds(1));
        assert_eq!(Scope::Pair.delay_after(5), TimeDelta::seconds(2));
        assert_eq!(Scope::Pair.delay_after(12), TimeDelta::seconds(256));
        assert_eq!(Scope::Pair.delay_after(13), MAX_DELAY);
        assert_eq!(Scope::Account.delay_after(10), TimeDelta::zero());
        assert_eq!(Scope::Account.delay_after(11), TimeDelta::seconds(1));
        for n in [100, 10_000, i64::MAX] {
            assert_eq!(
                Scope::Source.delay_after(n),
                MAX_DELAY,
                "never more than the cap"
            );
        }
    }

    #[test]
    fn long_usernames_are_cut_at_a_character_boundary() {
        assert_eq!(kept_username("admin"), ("admin".to_owned(), false));
        let long = "é".repeat(100);
        let (kept, cut) = kept_username(&long);
        assert!(cut);
        assert_eq!(kept.chars().count(), MAX_USERNAME_CHARS);
    }
}
