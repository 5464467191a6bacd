//! The Traffic Monitor's listing: its filters (from a query string, for the page and the JSON
//! API alike), sort orders, keyset cursors and pages.

use super::{Outcome, TrafficRecord, OUTCOMES, SOURCES};
use crate::domain::time_format::parse_instant;
use crate::domain::{Field, FieldError, Verdict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrafficSort {
    #[default]
    Time,
    Score,
}

/// A position in a sorted listing: the next page starts after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub score: Option<i64>,
    pub at_ms: i64,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        match self.score {
            Some(s) => format!("{s}.{}.{}", self.at_ms, self.id),
            None => format!("{}.{}", self.at_ms, self.id),
        }
    }

    pub fn decode(raw: &str, sort: TrafficSort) -> Result<Self, FieldError> {
        let parts: Vec<i64> = raw
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                FieldError::new(Field::Cursor, "Cursor is not one this server gave out")
            })?;
        match (sort, parts.as_slice()) {
            (TrafficSort::Time, [at_ms, id]) => Ok(Self {
                score: None,
                at_ms: *at_ms,
                id: *id,
            }),
            (TrafficSort::Score, [score, at_ms, id]) => Ok(Self {
                score: Some(*score),
                at_ms: *at_ms,
                id: *id,
            }),
            _ => Err(FieldError::new(
                Field::Cursor,
                "Cursor is not one this server gave out for this sort order",
            )),
        }
    }
}

pub use crate::domain::paging::{DEFAULT_PAGE, MAX_PAGE};

/// The Traffic Monitor's filters, as they appear in the URL and in `GET /api/traffic`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficFilter {
    pub source: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub verdict: Option<Verdict>,
    pub outcome: Option<Outcome>,
    pub min_score: Option<u8>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: TrafficSort,
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

impl TrafficFilter {
    /// Parses query parameters (absent or empty means "any"); a bad one is named.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, FieldError> {
        let text = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let source = text("source");
        if let Some(s) = &source {
            if !SOURCES.contains(&s.as_str()) {
                return Err(FieldError::new(
                    Field::Source,
                    format!("Source must be one of {}", SOURCES.join(", ")),
                ));
            }
        }
        let verdict = text("verdict")
            .map(|v| {
                Verdict::parse(&v).ok_or_else(|| {
                    FieldError::new(
                        Field::Verdict,
                        "Verdict must be ALLOW, REVIEW, BLOCK or BYPASSED",
                    )
                })
            })
            .transpose()?;
        let outcome = text("outcome")
            .map(|v| {
                Outcome::parse(&v).ok_or_else(|| {
                    let names: Vec<&str> = OUTCOMES.iter().map(|o| o.as_str()).collect();
                    FieldError::new(
                        Field::Outcome,
                        format!("Outcome must be one of {}", names.join(", ")),
                    )
                })
            })
            .transpose()?;
        let min_score = text("min_score")
            .map(|v| {
                v.parse::<u8>().ok().filter(|s| *s <= 100).ok_or_else(|| {
                    FieldError::new(
                        Field::MinScore,
                        "Minimum score must be a whole number from 0 to 100",
                    )
                })
            })
            .transpose()?;
        let sort = match text("sort").as_deref() {
            None | Some("time") => TrafficSort::Time,
            Some("score") => TrafficSort::Score,
            Some(_) => return Err(FieldError::new(Field::Sort, "Sort must be time or score")),
        };
        let limit = crate::domain::paging::limit(text("limit"))?;
        Ok(Self {
            source,
            model: text("model"),
            provider: text("provider"),
            verdict,
            outcome,
            min_score,
            from: parse_instant(Field::From, &text("from").unwrap_or_default())?,
            to: parse_instant(Field::To, &text("to").unwrap_or_default())?,
            sort,
            cursor: text("cursor")
                .map(|c| Cursor::decode(&c, sort))
                .transpose()?,
            limit,
        })
    }

    /// The query string that reproduces this filter (without the cursor unless asked).
    pub fn to_query(&self, with_cursor: bool) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut push = |k, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        };
        push("source", self.source.clone());
        push("model", self.model.clone());
        push("provider", self.provider.clone());
        push("verdict", self.verdict.map(|v| v.as_str().to_owned()));
        push("outcome", self.outcome.map(|o| o.as_str().to_owned()));
        push("min_score", self.min_score.map(|s| s.to_string()));
        push("from", self.from.map(|t| t.to_rfc3339()));
        push("to", self.to.map(|t| t.to_rfc3339()));
        push(
            "sort",
            (self.sort == TrafficSort::Score).then(|| "score".to_owned()),
        );
        push(
            "limit",
            (self.limit != DEFAULT_PAGE).then(|| self.limit.to_string()),
        );
        if with_cursor {
            push("cursor", self.cursor.map(|c| c.encode()));
        }
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", crate::domain::paging::encode_component(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// One page of a listing and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficPage {
    pub records: Vec<TrafficRecord>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<TrafficFilter, FieldError> {
        TrafficFilter::parse(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn empty_means_everything_newest_first() {
        let f = parse(&[("source", ""), ("verdict", " ")]).unwrap();
        assert_eq!(
            f,
            TrafficFilter {
                limit: DEFAULT_PAGE,
                ..Default::default()
            }
        );
        assert_eq!(f.to_query(true), "");
    }

    #[test]
    fn each_bad_parameter_is_named() {
        for (k, v, field) in [
            ("source", "proxy", Field::Source),
            ("verdict", "allow", Field::Verdict),
            ("min_score", "101", Field::MinScore),
            ("min_score", "-1", Field::MinScore),
            ("sort", "size", Field::Sort),
            ("limit", "0", Field::Limit),
            ("limit", "1001", Field::Limit),
            ("from", "soon", Field::From),
            ("cursor", "x.y", Field::Cursor),
        ] {
            assert_eq!(parse(&[(k, v)]).unwrap_err().field, field, "{k}={v}");
        }
        assert_eq!(
            parse(&[("sort", "score"), ("cursor", "5.6")])
                .unwrap_err()
                .field,
            Field::Cursor,
            "a time cursor does not fit the score order"
        );
    }

    #[test]
    fn the_query_string_reproduces_the_filter() {
        let f = parse(&[
            ("source", "break-glass"),
            ("model", "gpt-4o mini"),
            ("verdict", "BLOCK"),
            ("min_score", "25"),
            ("from", "2026-11-27T14:00"),
            ("sort", "score"),
            ("cursor", "40.1800000000000.7"),
            ("limit", "50"),
        ])
        .unwrap();
        let q = f.to_query(true);
        assert!(q.contains("model=gpt-4o%20mini"), "{q}");
        let back = TrafficFilter::parse(|k| {
            q.split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| *n == k)
                .map(|(_, v)| {
                    v.replace("%20", " ")
                        .replace("%3A", ":")
                        .replace("%2B", "+")
                })
        })
        .unwrap();
        assert_eq!(back, f);
    }
}
