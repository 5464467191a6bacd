//! One line of an OpenClaw session transcript (`<root>/agents/<agent>/sessions/<id>.jsonl`).
//!
//! What this relies on (OpenClaw's `docs/reference/session-management-compaction/schema.md` and
//! the pi agent's session types it writes): every line is one JSON object with a `type`. The
//! first is the header `{"type":"session","id","timestamp","cwd",...}`. Messages are
//! `{"type":"message","id","parentId","timestamp":<ISO 8601>,"message":{"role","content",
//! "provider","model","usage","timestamp":<epoch ms>}}` with `role` `user`, `assistant` or
//! `toolResult`, and `content` either a string or an array of blocks: `{"type":"text","text"}`,
//! `{"type":"thinking","thinking"}`, `{"type":"toolCall","id","name","arguments"}`,
//! `{"type":"image",...}`. Other entry types (`custom`, `custom_message`, `compaction`,
//! `model_change`, `thinking_level_change`, `reset`, `branch_summary`, ...) are skipped.
//!
//! What is scanned: user text and tool results as inbound (tool output is where indirect
//! prompt injection arrives), assistant text and tool calls (`name` and `arguments`) as
//! outbound. Thinking and images are not scanned.

use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A message with something to scan.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The entry's id, unique within its session.
    pub id: String,
    pub at: DateTime<Utc>,
    pub role: String,
    pub direction: Direction,
    pub text: String,
    pub model: Option<String>,
    pub provider: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Header {
        session_id: String,
    },
    Message(Message),
    /// Another entry type, or a message with nothing to scan (thinking only, an image).
    Skipped,
}

/// Why a line could not be read; the watcher counts it and goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub fn parse_line(line: &[u8]) -> Result<Line, Malformed> {
    let value: Value = serde_json::from_slice(line).map_err(|_| Malformed("not JSON"))?;
    let entry = value.as_object().ok_or(Malformed("not a JSON object"))?;
    let kind = entry
        .get("type")
        .and_then(Value::as_str)
        .ok_or(Malformed("no \"type\""))?;
    match kind {
        "session" => {
            let id = entry
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(Malformed("session header without \"id\""))?;
            Ok(Line::Header {
                session_id: id.to_owned(),
            })
        }
        "message" => message(entry, line),
        _ => Ok(Line::Skipped),
    }
}

fn message(entry: &serde_json::Map<String, Value>, line: &[u8]) -> Result<Line, Malformed> {
    let body = entry
        .get("message")
        .and_then(Value::as_object)
        .ok_or(Malformed("message entry without a \"message\" object"))?;
    let role = body
        .get("role")
        .and_then(Value::as_str)
        .ok_or(Malformed("message without \"role\""))?;
    let direction = match role {
        "user" | "toolResult" => Direction::Inbound,
        "assistant" => Direction::Outbound,
        _ => return Ok(Line::Skipped),
    };
    let at = entry
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            body.get("timestamp")
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis)
        })
        .ok_or(Malformed("message without a valid \"timestamp\""))?;
    let text = match body.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| block_text(b, direction))
            .collect::<Vec<_>>()
            .join("\n"),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(Malformed("message content is neither text nor blocks")),
    };
    if text.trim().is_empty() {
        return Ok(Line::Skipped);
    }
    let id = match entry.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        // Without an id, the line's content identifies it (a copy of it is the same message).
        _ => format!(
            "line-{}",
            &crate::server::secrets::token_hash(&String::from_utf8_lossy(line))[..32]
        ),
    };
    let text_of = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Line::Message(Message {
        id,
        at,
        role: role.to_owned(),
        direction,
        text,
        model: text_of("model"),
        provider: text_of("provider"),
    }))
}

fn block_text(block: &Value, direction: Direction) -> Option<String> {
    match block.get("type").and_then(Value::as_str)? {
        "text" => block.get("text").and_then(Value::as_str).map(str::to_owned),
        "toolCall" if direction == Direction::Outbound => {
            let name = block.get("name").and_then(Value::as_str).unwrap_or("tool");
            let arguments = match block.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            Some(format!("{name} {arguments}"))
        }
        _ => None,
    }
}

/// A transcript's session id from its file name, for a file whose header was never seen.
pub fn session_id_from_path(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split(".jsonl").next().unwrap_or(&name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Line, Malformed> {
        parse_line(s.as_bytes())
    }

    fn msg(s: &str) -> Message {
        match parse(s).unwrap() {
            Line::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn the_header_gives_the_session_id() {
        assert_eq!(
            parse(
                r#"{"type":"session","version":3,"id":"s-1","timestamp":"2026-11-27T10:00:00.000Z","cwd":"/w"}"#
            ),
            Ok(Line::Header {
                session_id: "s-1".into()
            })
        );
    }

    #[test]
    fn user_text_is_inbound_with_the_entry_time() {
        let m = msg(
            r#"{"type":"message","id":"a1","parentId":null,"timestamp":"2026-11-27T10:00:01.250Z","message":{"role":"user","content":"hello there","timestamp":1}}"#,
        );
        assert_eq!(m.id, "a1");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.text, "hello there");
        assert_eq!(m.at.to_rfc3339(), "2026-11-27T10:00:01.250+00:00");
    }

    #[test]
    fn assistant_text_and_tool_calls_are_outbound_and_thinking_is_not_scanned() {
        let m = msg(
            r#"{"type":"message","id":"b2","timestamp":"2026-11-27T10:00:02Z","message":{"role":"assistant","provider":"openai","model":"gpt-5","content":[{"type":"thinking","thinking":"secret plan"},{"type":"text","text":"Running it."},{"type":"toolCall","id":"t1","name":"bash","arguments":{"command":"ls"}}]}}"#,
        );
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(m.text, "Running it.\nbash {\"command\":\"ls\"}");
        assert_eq!(m.model.as_deref(), Some("gpt-5"));
        assert_eq!(m.provider.as_deref(), Some("openai"));
    }

    #[test]
    fn tool_results_are_inbound() {
        let m = msg(
            r#"{"type":"message","id":"c3","timestamp":"2026-11-27T10:00:03Z","message":{"role":"toolResult","toolCallId":"t1","toolName":"web","content":[{"type":"text","text":"page text"}]}}"#,
        );
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.text, "page text");
    }

    #[test]
    fn the_message_epoch_is_the_fallback_time() {
        let m = msg(
            r#"{"type":"message","id":"d4","message":{"role":"user","content":"x y z","timestamp":1795000000000}}"#,
        );
        assert_eq!(m.at.timestamp_millis(), 1_795_000_000_000);
    }

    #[test]
    fn other_entries_and_empty_messages_are_skipped() {
        for line in [
            r#"{"type":"custom","customType":"x","data":{}}"#,
            r#"{"type":"model_change","provider":"a","modelId":"b"}"#,
            r#"{"type":"message","id":"e","timestamp":"2026-11-27T10:00:00Z","message":{"role":"assistant","content":[{"type":"thinking","thinking":"hm"}]}}"#,
            r#"{"type":"message","id":"f","timestamp":"2026-11-27T10:00:00Z","message":{"role":"bashExecution","command":"ls"}}"#,
        ] {
            assert_eq!(parse(line), Ok(Line::Skipped), "{line}");
        }
    }

    #[test]
    fn malformed_lines_say_why() {
        for (line, why) in [
            ("{not json", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"id":"x"}"#, "no \"type\""),
            (
                r#"{"type":"message","id":"x"}"#,
                "message entry without a \"message\" object",
            ),
            (
                r#"{"type":"message","id":"x","message":{"role":"user","content":"hi"}}"#,
                "message without a valid \"timestamp\"",
            ),
            (
                r#"{"type":"message","id":"x","timestamp":"2026-11-27T10:00:00Z","message":{"role":"user","content":7}}"#,
                "message content is neither text nor blocks",
            ),
        ] {
            assert_eq!(parse(line), Err(Malformed(why)), "{line}");
        }
    }

    #[test]
    fn a_message_without_an_id_is_identified_by_its_content() {
        let line = r#"{"type":"message","timestamp":"2026-11-27T10:00:00Z","message":{"role":"user","content":"same words"}}"#;
        let a = msg(line);
        assert!(a.id.starts_with("line-"));
        assert_eq!(a.id, msg(line).id);
    }

    #[test]
    fn the_session_id_falls_back_to_the_file_name() {
        assert_eq!(
            session_id_from_path(std::path::Path::new("/r/agents/main/sessions/abc.jsonl.1")),
            "abc"
        );
    }
}
