//! Records that another proxy sends to `POST /api/proxy/ingest`.

use super::NewTraffic;
use crate::domain::traffic::{
    keep_text, label, DETECTION_NAME_MAX_CHARS, MAX_INGESTED_DETECTIONS, MODEL_MAX_CHARS,
    PROVIDER_MAX_CHARS, REQUEST_ID_MAX_CHARS, SESSION_ID_MAX_CHARS, SOURCE_BREAK_GLASS,
    SOURCE_LITELLM,
};
use crate::domain::{Field, FieldError, Verdict};
use chrono::{DateTime, Utc};

/// Parses a record that another proxy sends to `POST /api/proxy/ingest`.
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
    let detections: Vec<crate::domain::shield::Detection> = match json.get("detections") {
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
