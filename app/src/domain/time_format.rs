//! How durations and instants are written for people.

use crate::domain::{Field, FieldError};
use chrono::{DateTime, NaiveDateTime, Utc};

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

/// Parses a time bound: RFC 3339, or a `datetime-local` value taken as UTC; empty means none.
pub fn parse_instant(field: Field, raw: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    .map(|t| Some(t.and_utc()))
    .ok_or_else(|| {
        FieldError::new(
            field,
            format!(
                "{} must be a date and time like 2026-11-27T14:30 (UTC) or RFC 3339",
                capitalised(field.as_str())
            ),
        )
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The `datetime-local` form of an instant (UTC, to the second).
pub fn local_input(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_as_utc_or_name_the_field() {
        assert_eq!(parse_instant(Field::From, "").unwrap(), None);
        let t = parse_instant(Field::From, "2026-11-27T14:30")
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T14:30:00+00:00");
        let t = parse_instant(Field::To, "2026-11-27T15:30:00+01:00")
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T14:30:00+00:00");
        let err = parse_instant(Field::To, "yesterday").unwrap_err();
        assert_eq!(err.field, Field::To);
        assert!(err.message.starts_with("To must be"), "{}", err.message);
        assert_eq!(local_input(t), "2026-11-27T14:30:00");
    }

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
