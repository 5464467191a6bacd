//! How durations and instants are written for people.

use chrono::{DateTime, Utc};

/// `h:mm:ss` for a countdown (or `mm:ss` under an hour); negative values show as zero.
pub fn mm_ss(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn countdown_format() {
        assert_eq!(super::mm_ss(0), "00:00");
        assert_eq!(super::mm_ss(-5), "00:00");
        assert_eq!(super::mm_ss(59), "00:59");
        assert_eq!(super::mm_ss(900), "15:00");
        assert_eq!(super::mm_ss(3600), "1:00:00");
        assert_eq!(super::mm_ss(14_399), "3:59:59");
    }
}
