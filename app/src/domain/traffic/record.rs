//! A traffic record: how an exchange ended, where the record came from, and the caps on
//! what a caller gives it.

use crate::domain::{Field, FieldError, Verdict};
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
    pub detections: Vec<crate::domain::shield::Detection>,
    /// For a Session Watcher record: `inbound` or `outbound` (a transcript message).
    pub direction: Option<String>,
    /// For a Session Watcher rescan: the BYPASSED record it scanned after the fact.
    pub rescan_of: Option<i64>,
    /// How a gateway exchange ended; none for records that did not pass through the gateway.
    pub outcome: Option<Outcome>,
    /// Kept request or response text was cut at `MAX_KEPT_TEXT_BYTES`.
    pub text_truncated: bool,
    /// What the shield's verdict covered; none when nothing was scanned.
    pub scan_coverage: Option<crate::domain::shield::Coverage>,
    /// What the shield found in the model's answer, scanned after it went out; none when the
    /// answer was not scanned.
    pub response_scan: Option<crate::domain::shield::ScanResult>,
}

/// Where a record came from, as the filter names it.
pub const SOURCES: [&str; 3] = [SOURCE_LITELLM, SOURCE_WATCHER, SOURCE_BREAK_GLASS];

pub const SOURCE_LITELLM: &str = "litellm";
pub const SOURCE_BREAK_GLASS: &str = "break-glass";
pub const SOURCE_WATCHER: &str = "session-watcher";

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
