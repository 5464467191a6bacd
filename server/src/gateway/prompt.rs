//! What the shield reads of a request: every part an agent controls, not only the user's
//! message. An instruction hidden in a system message, a tool's description, a tool result,
//! the arguments of an earlier tool call or a message's `name` reaches the model as surely as
//! the user's text does. Parts the shield cannot read (images, audio, files, token arrays)
//! are named, so that a record says what its verdict did not cover.

use serde_json::Value;
use std::collections::BTreeSet;

/// The text of every readable part, one part per line, what kinds of part were read, and the
/// parts that could not be read.
#[derive(Debug, Default, PartialEq)]
pub struct Prompt {
    pub text: String,
    /// Which kinds of part were read: roles, `name`, `tool_calls`, `tools`, …
    pub parts: BTreeSet<&'static str>,
    /// What the shield could not read, e.g. `messages[2].content: image_url`.
    pub unscannable: Vec<String>,
}

/// The roles a record names; any other role is counted as `other roles`.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// At most this many unreadable parts are named one by one; the rest are counted.
const NAMED_UNSCANNABLE: usize = 8;

impl Prompt {
    /// Adds the text of a part of kind `part`.
    fn read(&mut self, part: &'static str, s: &str) {
        if s.is_empty() {
            return;
        }
        self.parts.insert(part);
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(s);
    }

    fn unreadable(&mut self, what: String) {
        match self.unscannable.len() {
            n if n < NAMED_UNSCANNABLE => self.unscannable.push(what),
            NAMED_UNSCANNABLE => self.unscannable.push("and more".into()),
            _ => {}
        }
    }

    /// Every string in `value`, keys included (a parameter schema's property names and
    /// descriptions are text the model reads), as a part of kind `part`.
    fn read_strings(&mut self, part: &'static str, value: &Value) {
        match value {
            Value::String(s) => self.read(part, s),
            Value::Array(items) => items.iter().for_each(|v| self.read_strings(part, v)),
            Value::Object(fields) => {
                for (k, v) in fields {
                    self.read(part, k);
                    self.read_strings(part, v);
                }
            }
            _ => {}
        }
    }

    /// A chat completion request: every message of every role (its content parts, `name`,
    /// tool calls and legacy function call), the tool and function definitions, and the
    /// response format's schema. `None` when `messages` is missing or empty.
    pub fn of_chat(request: &Value) -> Option<Self> {
        let messages = request
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())?;
        let mut prompt = Self::default();
        for (i, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let role = ROLES
                .into_iter()
                .find(|r| *r == role)
                .unwrap_or("other roles");
            if let Some(name) = m.get("name").and_then(Value::as_str) {
                prompt.read("name", name);
            }
            match m.get("content") {
                Some(Value::String(s)) => prompt.read(role, s),
                Some(Value::Array(parts)) => {
                    for (j, part) in parts.iter().enumerate() {
                        prompt.content_part(role, part, || format!("messages[{i}].content[{j}]"));
                    }
                }
                _ => {}
            }
            if let Some(refusal) = m.get("refusal").and_then(Value::as_str) {
                prompt.read(role, refusal);
            }
            let calls = m.get("tool_calls").and_then(Value::as_array);
            for call in calls.into_iter().flatten() {
                prompt.function("tool_calls", call.get("function"));
            }
            prompt.function("function_call", m.get("function_call"));
        }
        for key in ["tools", "functions"] {
            for tool in request
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // `tools` wraps each definition in `{type, function}`; `functions` does not.
                prompt.read_strings(key, tool.get("function").unwrap_or(tool));
            }
        }
        if let Some(format) = request.get("response_format") {
            prompt.read_strings("response_format", format);
        }
        Some(prompt)
    }

    /// One content part: its text, or the name of what it carries when that is not text.
    fn content_part(&mut self, role: &'static str, part: &Value, at: impl Fn() -> String) {
        match part {
            Value::String(s) => self.read(role, s),
            Value::Object(fields) => {
                let mut read = false;
                for key in ["text", "refusal"] {
                    if let Some(s) = fields.get(key).and_then(Value::as_str) {
                        self.read(role, s);
                        read = true;
                    }
                }
                if !read {
                    let kind = fields
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown");
                    self.unreadable(format!("{}: {}", at(), clip(kind)));
                }
            }
            _ => self.unreadable(format!("{}: not an object", at())),
        }
    }

    /// A tool call or legacy function call: its name and its arguments (a JSON string).
    fn function(&mut self, part: &'static str, function: Option<&Value>) {
        let Some(function) = function else { return };
        for key in ["name", "arguments"] {
            if let Some(value) = function.get(key) {
                self.read_strings(part, value);
            }
        }
    }

    /// An embeddings request: a string or an array of strings. Token arrays (an array of
    /// integers, or of arrays of them) are not text the shield can read. `None` when `input`
    /// is missing or empty.
    pub fn of_embeddings(request: &Value) -> Option<Self> {
        let mut prompt = Self::default();
        match request.get("input")? {
            Value::String(s) => prompt.read("input", s),
            Value::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => prompt.read("input", s),
                        Value::Number(_) => {
                            prompt.unreadable("input: token ids".into());
                            break;
                        }
                        _ => prompt.unreadable(format!("input[{i}]: token ids")),
                    }
                }
            }
            _ => return None,
        }
        Some(prompt)
    }
}

/// A client's `type` names at most this many characters in a record.
fn clip(kind: &str) -> String {
    kind.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(request: Value) -> Prompt {
        Prompt::of_chat(&request).expect("messages are there")
    }

    #[test]
    fn every_role_and_every_part_is_read() {
        let p = chat(json!({
            "messages": [
                {"role": "system", "content": "SYSTEM TEXT"},
                {"role": "user", "name": "NAME TEXT", "content": [
                    {"type": "text", "text": "PART ONE"},
                    {"type": "text", "text": "PART TWO"}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "CALL NAME", "arguments": "{\"q\": \"CALL ARGS\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "TOOL RESULT"},
                {"role": "assistant", "function_call": {"name": "f", "arguments": "LEGACY ARGS"}}
            ],
            "tools": [{"type": "function", "function": {
                "name": "search", "description": "TOOL DESCRIPTION",
                "parameters": {"type": "object", "properties": {
                    "q": {"type": "string", "description": "PARAM DESCRIPTION"}
                }}
            }}],
            "functions": [{"name": "legacy", "description": "FUNCTION DESCRIPTION"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"description": "SCHEMA DESCRIPTION"}
            }}
        }));
        for part in [
            "SYSTEM TEXT",
            "NAME TEXT",
            "PART ONE",
            "PART TWO",
            "CALL NAME",
            "CALL ARGS",
            "TOOL RESULT",
            "LEGACY ARGS",
            "TOOL DESCRIPTION",
            "PARAM DESCRIPTION",
            "FUNCTION DESCRIPTION",
            "SCHEMA DESCRIPTION",
        ] {
            assert!(p.text.contains(part), "{part} missing from {:?}", p.text);
        }
        assert!(p.unscannable.is_empty());
        assert_eq!(
            p.parts.into_iter().collect::<Vec<_>>(),
            [
                "function_call",
                "functions",
                "name",
                "response_format",
                "system",
                "tool",
                "tool_calls",
                "tools",
                "user"
            ]
        );
    }

    #[test]
    fn a_role_of_the_client_own_is_counted_not_named() {
        let p = chat(json!({"messages": [{"role": "x".repeat(10_000), "content": "hi"}]}));
        assert_eq!(p.parts.into_iter().collect::<Vec<_>>(), ["other roles"]);
    }

    #[test]
    fn images_and_audio_are_named_as_unscannable() {
        let p = chat(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
        ]}]}));
        assert_eq!(p.text, "what is this");
        assert_eq!(
            p.unscannable,
            [
                "messages[0].content[1]: image_url",
                "messages[0].content[2]: input_audio"
            ]
        );
    }

    #[test]
    fn a_thousand_images_name_a_few_and_say_there_are_more() {
        let parts: Vec<Value> = (0..1000)
            .map(|_| json!({"type": "image_url", "image_url": {"url": "x"}}))
            .collect();
        let p = chat(json!({"messages": [{"role": "user", "content": parts}]}));
        assert_eq!(p.unscannable.len(), NAMED_UNSCANNABLE + 1);
        assert_eq!(p.unscannable.last().unwrap(), "and more");
    }

    #[test]
    fn missing_or_empty_messages_are_refused() {
        assert_eq!(Prompt::of_chat(&json!({})), None);
        assert_eq!(Prompt::of_chat(&json!({"messages": []})), None);
        assert_eq!(Prompt::of_chat(&json!({"messages": "hi"})), None);
    }

    #[test]
    fn embeddings_read_strings_and_name_token_arrays() {
        let one = Prompt::of_embeddings(&json!({"input": "hello"})).unwrap();
        assert_eq!((one.text.as_str(), one.unscannable.len()), ("hello", 0));
        let many = Prompt::of_embeddings(&json!({"input": ["a", "b"]})).unwrap();
        assert_eq!(many.text, "a\nb");
        let tokens = Prompt::of_embeddings(&json!({"input": [1, 2, 3]})).unwrap();
        assert_eq!(
            (tokens.text.as_str(), tokens.unscannable),
            ("", vec!["input: token ids".to_owned()])
        );
        let batches = Prompt::of_embeddings(&json!({"input": [[1, 2], [3]]})).unwrap();
        assert_eq!(
            batches.unscannable,
            ["input[0]: token ids", "input[1]: token ids"]
        );
        assert_eq!(Prompt::of_embeddings(&json!({"input": []})), None);
        assert_eq!(Prompt::of_embeddings(&json!({"input": 7})), None);
    }
}
