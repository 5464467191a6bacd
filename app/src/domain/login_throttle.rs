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
