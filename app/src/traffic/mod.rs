//! LLM traffic records: what went through, how it was judged, or that it was not (BYPASSED).

use crate::domain::time_format::parse_instant;
use crate::domain::{Field, FieldError, Verdict, VERDICTS};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an exchange through the gateway ended. A record is `Pending` only while its request is
/// in flight (bypassed requests are recorded before they are forwarded); every other value is
/// final, but for `Interrupted`, which the next process writes for a record whose process died.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded, not yet answered (bypassed requests are recorded before they are forwarded).
    Pending,
    /// The client received the whole answer.
    Completed,
    /// Not forwarded: the shield blocked it, or no upstream was configured.
    Refused,
    /// The client went away before the answer's headers.
    ClientClosedBeforeResponse,
    /// The client went away while the answer streamed.
    ClientClosedDuringResponse,
    /// The upstream could not be reached, failed (5xx) or broke off its answer.
    UpstreamError,
    /// The upstream did not answer (or went silent mid-stream) within the upstream timeout.
    UpstreamTimeout,
    /// The gateway shut down before the answer was complete.
    Shutdown,
    /// The gateway process died (killed, crashed) with the request in flight.
    Interrupted,
}

pub const OUTCOMES: [Outcome; 9] = [
    Outcome::Pending,
    Outcome::Completed,
    Outcome::Refused,
    Outcome::ClientClosedBeforeResponse,
    Outcome::ClientClosedDuringResponse,
    Outcome::UpstreamError,
    Outcome::UpstreamTimeout,
    Outcome::Shutdown,
    Outcome::Interrupted,
];

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Completed => "completed",
            Outcome::Refused => "refused",
            Outcome::ClientClosedBeforeResponse => "client_closed_before_response",
            Outcome::ClientClosedDuringResponse => "client_closed_during_response",
            Outcome::UpstreamError => "upstream_error",
            Outcome::UpstreamTimeout => "upstream_timeout",
            Outcome::Shutdown => "shutdown",
            Outcome::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        OUTCOMES.into_iter().find(|o| o.as_str() == s)
    }

    /// How the Traffic Monitor says it.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pending => "in flight",
            Outcome::Completed => "completed",
            Outcome::Refused => "refused",
            Outcome::ClientClosedBeforeResponse => "client left before the answer",
            Outcome::ClientClosedDuringResponse => "client left during the answer",
            Outcome::UpstreamError => "upstream error",
            Outcome::UpstreamTimeout => "upstream timeout",
            Outcome::Shutdown => "gateway shut down",
            Outcome::Interrupted => "interrupted (gateway died)",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub detections: Vec<crate::shield::Detection>,
    /// For a Session Watcher record: `inbound` or `outbound` (a transcript message).
    pub direction: Option<String>,
    /// For a Session Watcher rescan: the BYPASSED record it scanned after the fact.
    pub rescan_of: Option<i64>,
    /// How a gateway exchange ended; none for records that did not pass through the gateway.
    pub outcome: Option<Outcome>,
    /// Kept request or response text was cut at `MAX_KEPT_TEXT_BYTES`.
    pub text_truncated: bool,
    /// What the shield's verdict covered; none when nothing was scanned.
    pub scan_coverage: Option<crate::shield::Coverage>,
    /// What the shield found in the model's answer, scanned after it went out; none when the
    /// answer was not scanned.
    pub response_scan: Option<crate::shield::ScanResult>,
}

/// Where a record came from, as the filter names it.
pub const SOURCES: [&str; 3] = [SOURCE_LITELLM, SOURCE_WATCHER, SOURCE_BREAK_GLASS];

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

pub use crate::paging::{DEFAULT_PAGE, MAX_PAGE};

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
        let limit = crate::paging::limit(text("limit"))?;
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
            .map(|(k, v)| format!("{k}={}", crate::paging::encode_component(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Writes records as CSV with a header row. Cells that a spreadsheet would run as a formula
/// are prefixed with `'`.
pub fn write_csv(records: &[TrafficRecord], out: &mut String, header: bool) {
    fn cell(out: &mut String, v: &str) {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        if v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&v);
        }
    }
    if header {
        out.push_str("time,source,model,provider,verdict,outcome,score,latency_ms,tokens_in,tokens_out,http_status,session_id,request_id,rules\n");
    }
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for r in records {
        let rules: Vec<&str> = r.detections.iter().map(|d| d.rule.as_str()).collect();
        let cells = [
            r.at.to_rfc3339(),
            r.source.clone(),
            r.model.clone().unwrap_or_default(),
            r.provider.clone().unwrap_or_default(),
            r.verdict.as_str().to_owned(),
            r.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            opt(r.score),
            opt(r.latency_ms),
            opt(r.tokens_in),
            opt(r.tokens_out),
            opt(r.http_status),
            r.session_id.clone().unwrap_or_default(),
            r.request_id.clone().unwrap_or_default(),
            rules.join(" "),
        ];
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            cell(out, c);
        }
        out.push('\n');
    }
}

/// Requests per time bucket by verdict, with the break-glass windows in the range: what the
/// Traffic Monitor's chart draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chart {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_minutes: i64,
    /// Per bucket: counts of ALLOW, REVIEW, BLOCK, BYPASSED, in the order of `VERDICTS`.
    pub buckets: Vec<[i64; 4]>,
    pub windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// At most this many bars; longer ranges get wider buckets.
pub const MAX_BUCKETS: i64 = 240;

impl Chart {
    /// The range to chart: the filter's, or the last hour up to `now`.
    pub fn range(filter: &TrafficFilter, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let to = filter.to.unwrap_or(now);
        let from = filter
            .from
            .filter(|f| *f < to)
            .unwrap_or(to - chrono::TimeDelta::hours(1));
        (from, to)
    }

    /// Whole minutes per bucket so that the range fits in `MAX_BUCKETS` bars.
    pub fn bucket_minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let minutes = ((to - from).num_seconds() + 59) / 60;
        ((minutes + MAX_BUCKETS - 1) / MAX_BUCKETS).max(1)
    }

    /// Builds the chart from `(bucket index, verdict, count)` rows.
    pub fn build(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        counts: impl IntoIterator<Item = (i64, Verdict, i64)>,
        windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Self {
        let bucket_minutes = Self::bucket_minutes(from, to);
        let n =
            (((to - from).num_seconds() + bucket_minutes * 60 - 1) / (bucket_minutes * 60)).max(1);
        let mut buckets = vec![[0i64; 4]; n as usize];
        for (i, verdict, count) in counts {
            if let (Some(b), Some(v)) = (
                usize::try_from(i).ok().and_then(|i| buckets.get_mut(i)),
                VERDICTS.iter().position(|x| *x == verdict),
            ) {
                b[v] += count;
            }
        }
        Self {
            from,
            to,
            bucket_minutes,
            buckets,
            windows,
        }
    }
}

/// One page of a listing and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficPage {
    pub records: Vec<TrafficRecord>,
    pub next_cursor: Option<String>,
}

pub const SOURCE_LITELLM: &str = "litellm";
pub const SOURCE_BREAK_GLASS: &str = "break-glass";
pub const SOURCE_WATCHER: &str = "session-watcher";

#[cfg(feature = "ssr")]
pub use journal::{Fsync, Journal, JournalError, Receipt};
#[cfg(feature = "ssr")]
pub use store::{
    chart, chart_statement, count_bypassed, insert, insert_new, page, page_statement,
    record_from_row, Completion, NewTraffic, RECORD_COLUMNS,
};

/// The most request or response text a record keeps (1 MiB each); longer text is cut there,
/// at a character boundary, and the record is marked `text_truncated`.
pub const MAX_KEPT_TEXT_BYTES: usize = 1 << 20;

/// `text` cut to `MAX_KEPT_TEXT_BYTES`, and whether it was cut.
pub fn keep_text(mut text: String) -> (String, bool) {
    if text.len() <= MAX_KEPT_TEXT_BYTES {
        return (text, false);
    }
    let mut end = MAX_KEPT_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

/// The longest model name a record keeps, `provider/` prefix included.
pub const MODEL_MAX_CHARS: usize = 256;
/// The longest provider name a record keeps.
pub const PROVIDER_MAX_CHARS: usize = 64;
/// The longest session id (`X-Session-Id`, ingest `session_id`) a record keeps.
pub const SESSION_ID_MAX_CHARS: usize = 128;
/// The longest request id an ingested record may carry.
pub const REQUEST_ID_MAX_CHARS: usize = 128;
/// The most detections an ingested record may carry.
pub const MAX_INGESTED_DETECTIONS: usize = 64;
/// The longest rule or category name of an ingested detection.
pub const DETECTION_NAME_MAX_CHARS: usize = 64;

/// A name a caller gives a record (model, provider, session id, request id), kept as given or
/// refused: 1 to `max` characters, none of them control characters. `what` names the field
/// as the caller wrote it (`model`, `X-Session-Id`).
pub fn label(field: Field, what: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let chars = raw.chars().count();
    if chars == 0 || chars > max {
        return Err(FieldError::new(
            field,
            format!("{what} must be 1 to {max} characters (now {chars})"),
        ));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(FieldError::new(
            field,
            format!(
                "{what} must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(raw.to_owned())
}

/// The provider a model name starts with (`provider/model`), within its cap.
pub fn provider_of(model: &str) -> Result<Option<String>, FieldError> {
    model
        .split_once('/')
        .map(|(p, _)| {
            label(
                Field::Model,
                "The provider part of model (before /)",
                p,
                PROVIDER_MAX_CHARS,
            )
        })
        .transpose()
}

/// Parses a record that another proxy sends to `POST /api/proxy/ingest`.
#[cfg(feature = "ssr")]
pub fn ingested(
    json: &serde_json::Value,
    api_key_id: i64,
    now: DateTime<Utc>,
) -> Result<NewTraffic, FieldError> {
    let text = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let bounded = |k: &str, field: Field, max: usize| match json.get(k) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(v)) => label(field, k, v, max).map(Some),
        Some(_) => Err(FieldError::new(field, format!("{k} must be a string"))),
    };
    let int = |k: &str, field: Field, rule: &str| match json.get(k) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| FieldError::new(field, rule.to_owned())),
    };
    let source = match text("source").as_deref() {
        Some(SOURCE_LITELLM) => SOURCE_LITELLM,
        Some(SOURCE_BREAK_GLASS) => SOURCE_BREAK_GLASS,
        _ => {
            return Err(FieldError::new(
                Field::Source,
                "Source must be litellm or break-glass",
            ))
        }
    };
    let verdict = text("verdict")
        .as_deref()
        .and_then(Verdict::parse)
        .ok_or_else(|| {
            FieldError::new(
                Field::Verdict,
                "Verdict must be ALLOW, REVIEW, BLOCK or BYPASSED",
            )
        })?;
    let bypassed = verdict == Verdict::Bypassed;
    if bypassed != (source == SOURCE_BREAK_GLASS) {
        return Err(FieldError::new(
            Field::Verdict,
            "Verdict BYPASSED goes with source break-glass, and only with it",
        ));
    }
    let score = int(
        "score",
        Field::Score,
        "Score must be a whole number from 0 to 100",
    )?;
    let score = match (bypassed, score) {
        (true, None) => None,
        (true, Some(_)) => {
            return Err(FieldError::new(
                Field::Score,
                "A BYPASSED record has no score: nothing scanned it",
            ))
        }
        (false, Some(s)) if s <= 100 => Some(s as u8),
        (false, _) => {
            return Err(FieldError::new(
                Field::Score,
                "Score is required: a whole number from 0 to 100",
            ))
        }
    };
    let detections: Vec<crate::shield::Detection> = match json.get("detections") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            FieldError::new(
                Field::Detections,
                "Detections must be the list that /api/shield/scan returned",
            )
        })?,
    };
    if detections.len() > MAX_INGESTED_DETECTIONS {
        return Err(FieldError::new(
            Field::Detections,
            format!(
                "Detections must be at most {MAX_INGESTED_DETECTIONS} (now {})",
                detections.len()
            ),
        ));
    }
    for d in &detections {
        label(
            Field::Detections,
            "A detection's rule",
            &d.rule,
            DETECTION_NAME_MAX_CHARS,
        )?;
        label(
            Field::Detections,
            "A detection's category",
            &d.category,
            DETECTION_NAME_MAX_CHARS,
        )?;
    }
    let model = bounded("model", Field::Model, MODEL_MAX_CHARS)?;
    let provider = bounded("provider", Field::Provider, PROVIDER_MAX_CHARS)?;
    let session_id = bounded("session_id", Field::SessionId, SESSION_ID_MAX_CHARS)?;
    let request_id = bounded("request_id", Field::RequestId, REQUEST_ID_MAX_CHARS)?;
    let http_status = int(
        "http_status",
        Field::HttpStatus,
        "HTTP status must be a number from 100 to 599",
    )?
    .map(|n| u16::try_from(n).ok().filter(|s| (100..=599).contains(s)))
    .map(|s| {
        s.ok_or_else(|| {
            FieldError::new(
                Field::HttpStatus,
                "HTTP status must be a number from 100 to 599",
            )
        })
    })
    .transpose()?
    .or(Some(200));
    let at = match text("at") {
        None => now,
        Some(raw) => DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| FieldError::new(Field::At, "At must be an RFC 3339 time"))?,
    };
    let kept = |k: &str| bypassed.then(|| text(k)).flatten().map(keep_text);
    let request_text = kept("request_text");
    let response_text = kept("response_text");
    let text_truncated = [&request_text, &response_text]
        .iter()
        .any(|t| t.as_ref().is_some_and(|(_, cut)| *cut));
    Ok(NewTraffic {
        at,
        source,
        model,
        provider,
        verdict,
        score,
        detections,
        latency_ms: int(
            "latency_ms",
            Field::Body,
            "latency_ms must be a whole number of milliseconds",
        )?
        .or(Some(0)),
        tokens_in: int("tokens_in", Field::Body, "tokens_in must be a whole number")?,
        tokens_out: int(
            "tokens_out",
            Field::Body,
            "tokens_out must be a whole number",
        )?,
        http_status,
        api_key_id: Some(api_key_id),
        session_id,
        request_id: request_id.unwrap_or_else(|| crate::server::secrets::random_hex(12)),
        request_text: request_text.map(|(t, _)| t),
        response_text: response_text.map(|(t, _)| t),
        rescan_of: None,
        direction: None,
        outcome: None,
        gateway_instance: None,
        text_truncated,
        scan_coverage: None,
    })
}

#[cfg(feature = "ssr")]
mod journal;
#[cfg(feature = "ssr")]
mod store;

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

    #[test]
    fn the_chart_buckets_by_minute_and_widens_for_long_ranges() {
        let from = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let hour = from + chrono::TimeDelta::hours(1);
        assert_eq!(Chart::bucket_minutes(from, hour), 1);
        assert_eq!(
            Chart::bucket_minutes(from, from + chrono::TimeDelta::hours(4)),
            1
        );
        assert_eq!(
            Chart::bucket_minutes(from, from + chrono::TimeDelta::hours(5)),
            2
        );
        assert_eq!(
            Chart::bucket_minutes(from, from + chrono::TimeDelta::days(1)),
            6
        );
        let c = Chart::build(
            from,
            hour,
            [
                (0, Verdict::Allow, 3),
                (0, Verdict::Block, 1),
                (59, Verdict::Bypassed, 2),
                (60, Verdict::Allow, 9),
            ],
            vec![],
        );
        assert_eq!(c.buckets.len(), 60);
        assert_eq!(c.buckets[0], [3, 0, 1, 0]);
        assert_eq!(c.buckets[59], [0, 0, 0, 2]);
        assert_eq!(
            c.buckets.iter().flatten().sum::<i64>(),
            6,
            "out-of-range rows are ignored"
        );
        let filter = TrafficFilter {
            to: Some(hour),
            ..Default::default()
        };
        assert_eq!(
            Chart::range(&filter, from),
            (from, hour),
            "no from: the hour before to"
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let record = TrafficRecord {
            id: 1,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            source: "litellm".into(),
            model: Some("=HYPERLINK(\"x\")".into()),
            provider: Some("a,b".into()),
            verdict: Verdict::Allow,
            score: Some(0),
            latency_ms: Some(12),
            tokens_in: None,
            tokens_out: None,
            http_status: Some(200),
            session_id: None,
            request_id: Some("r1".into()),
            detections: vec![],
            direction: None,
            rescan_of: None,
            outcome: Some(Outcome::Completed),
            text_truncated: false,
            scan_coverage: None,
            response_scan: None,
        };
        let mut out = String::new();
        write_csv(&[record], &mut out, true);
        let line = out.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "2027-01-15T08:00:00+00:00,litellm,\"'=HYPERLINK(\"\"x\"\")\",\"a,b\",ALLOW,completed,0,12,,,200,,r1,"
        );
    }
}
