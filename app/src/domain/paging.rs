//! What every paged listing shares: the page size a caller may ask for, and the query
//! string that links to a page.

use crate::domain::{Field, FieldError};

/// Entries per page unless the caller asks otherwise.
pub const DEFAULT_PAGE: u32 = 100;
/// At most this many entries per page.
pub const MAX_PAGE: u32 = 1000;

/// The page size a caller asked for (`limit`), or the default when it asked for none.
pub fn limit(raw: Option<String>) -> Result<u32, FieldError> {
    raw.map(|v| {
        v.parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                FieldError::new(
                    Field::Limit,
                    format!("Limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })
    })
    .transpose()
    .map(|l| l.unwrap_or(DEFAULT_PAGE))
}

/// `v` percent-encoded for a query string.
pub fn encode_component(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
