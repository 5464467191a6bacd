//! A streamed answer (server-sent events) passed through as it arrives, with its end held back:
//! the `data: [DONE]` line and whatever follows it, and a partial line that could still become
//! that line. The gateway lets the held end go only once the traffic record is committed, so a
//! client never sees a stream complete whose record is not stored. Bytes pass unchanged and in
//! order, however the upstream splits them into chunks; `[DONE]` inside a message's text is
//! text, not the end.

use app::server::traffic::Completion;

/// The most of one line kept to read it (usage, the answer's text); a longer line still passes
/// through, unread.
const MAX_LINE: usize = 1 << 20;

#[derive(Default)]
pub struct SseRelay {
    /// The current line from its start, while it could still be the terminator.
    prefix: Vec<u8>,
    /// The current line's start has gone out already: it is not the terminator.
    mid_line: bool,
    /// The current line, kept to be read once complete (unless longer than `MAX_LINE`).
    line: Vec<u8>,
    line_too_long: bool,
    /// The terminator and everything after it, once seen.
    tail: Option<Vec<u8>>,
}

impl SseRelay {
    /// Takes the next chunk; returns the bytes that may go to the client now. Each complete
    /// line before the terminator is given to `on_line` (without its line ending).
    pub fn push(&mut self, chunk: &[u8], mut on_line: impl FnMut(&[u8])) -> Vec<u8> {
        if let Some(tail) = &mut self.tail {
            tail.extend_from_slice(chunk);
            return Vec::new();
        }
        let mut out = Vec::with_capacity(chunk.len());
        let mut rest = chunk;
        while !rest.is_empty() {
            let (piece, complete) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[piece.len()..];
            if self.line.len() + piece.len() <= MAX_LINE {
                self.line.extend_from_slice(piece);
            } else {
                self.line_too_long = true;
            }
            if self.mid_line {
                out.extend_from_slice(piece);
            } else {
                self.prefix.extend_from_slice(piece);
                if complete && is_terminator(&self.prefix) {
                    let mut tail = std::mem::take(&mut self.prefix);
                    tail.extend_from_slice(rest);
                    self.tail = Some(tail);
                    return out;
                }
                if !complete && could_become_terminator(&self.prefix) {
                    continue;
                }
                out.append(&mut self.prefix);
            }
            self.mid_line = !complete;
            if complete {
                if !self.line_too_long {
                    on_line(trim_line_end(&self.line));
                }
                self.line.clear();
                self.line_too_long = false;
            }
        }
        out
    }

    /// What was held back: the terminator and what followed it, or an unfinished last line.
    pub fn finish(self) -> Vec<u8> {
        self.tail.unwrap_or(self.prefix)
    }
}

const TERMINATORS: [&[u8]; 2] = [b"data: [DONE]", b"data:[DONE]"];

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_terminator(line: &[u8]) -> bool {
    TERMINATORS.contains(&trim_line_end(line))
}

/// Whether a line begun with `partial` (no line end yet) could turn out to be the terminator.
fn could_become_terminator(partial: &[u8]) -> bool {
    TERMINATORS.iter().any(|t| {
        let with_cr = [*t, b"\r"].concat();
        with_cr.starts_with(partial)
    })
}

/// Reads one line of a streamed chat answer: its token usage into the record; the piece of
/// the answer it carries, if any, is returned.
pub fn observe_line(line: &[u8], end: &mut Completion) -> Option<String> {
    let data = line.strip_prefix(b"data:")?;
    let event = serde_json::from_slice::<serde_json::Value>(data.trim_ascii()).ok()?;
    if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
        end.tokens_in = usage["prompt_tokens"].as_i64();
        end.tokens_out = usage["completion_tokens"].as_i64();
    }
    event["choices"][0]["delta"]["content"]
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `chunks`; returns what went out before the end, the held end, and the lines read.
    fn relay(chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>, Vec<String>) {
        let mut relay = SseRelay::default();
        let mut out = Vec::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            out.extend(relay.push(chunk, |l| lines.push(String::from_utf8_lossy(l).into())));
        }
        (out, relay.finish(), lines)
    }

    fn event(content: &str) -> String {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"delta": {"content": content}}]})
        )
    }

    #[test]
    fn done_inside_the_text_is_text() {
        let first = event("the marker is [DONE] and");
        let second = event(" more");
        let (out, held, _) = relay(&[first.as_bytes(), second.as_bytes(), b"data: [DONE]\n\n"]);
        assert_eq!(out, [first.as_bytes(), second.as_bytes()].concat());
        assert_eq!(held, b"data: [DONE]\n\n");
    }

    #[test]
    fn a_terminator_split_across_chunks_is_held_whole() {
        let first = event("hi");
        let (out, held, _) = relay(&[format!("{first}data: [DO").as_bytes(), b"NE]\r\n", b"\r\n"]);
        assert_eq!(
            out,
            first.as_bytes(),
            "nothing of the terminator went out early"
        );
        assert_eq!(held, b"data: [DONE]\r\n\r\n");
    }

    #[test]
    fn a_line_that_only_starts_like_the_terminator_passes() {
        let (out, held, lines) = relay(&[b"data: [DO", b"GS]\n"]);
        assert_eq!(out, b"data: [DOGS]\n");
        assert!(held.is_empty());
        assert_eq!(lines, ["data: [DOGS]"]);
        // A long line goes out as it comes, before its end.
        let (out, _, _) = relay(&[b"data: {\"choices\": [", b"]}\n"]);
        assert_eq!(out, b"data: {\"choices\": []}\n");
        let mut relay = SseRelay::default();
        assert_eq!(relay.push(b"data: {\"id\"", |_| {}), b"data: {\"id\"");
    }

    #[test]
    fn usage_and_text_are_read_from_complete_lines() {
        let usage = format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}})
        );
        let text = event("answer");
        let all = format!("{text}{usage}data: [DONE]\n\n");
        let mut end = Completion::default();
        let mut answer = String::new();
        let mut relay = SseRelay::default();
        for chunk in all.as_bytes().chunks(7) {
            relay.push(chunk, |l| {
                if let Some(piece) = observe_line(l, &mut end) {
                    answer.push_str(&piece);
                }
            });
        }
        assert_eq!(answer, "answer");
        assert_eq!((end.tokens_in, end.tokens_out), (Some(11), Some(2)));
    }

    proptest! {
        /// However a stream is cut into chunks, every byte passes once and in order, and the
        /// terminator (with what follows) only in the held end.
        #[test]
        fn any_chunking_passes_the_stream_intact(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just("data: [DONE]".to_owned()),
                    Just("[DONE]".to_owned()),
                    Just("data: ".to_owned()),
                    Just("\n".to_owned()),
                    Just("\r\n".to_owned()),
                    "[a-z \\[\\]{}:\"]{0,12}",
                ],
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..12),
        ) {
            let stream = pieces.concat().into_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[start..c]);
                start = c;
            }
            let (out, held, _) = relay(&chunks);
            prop_assert_eq!([out.clone(), held.clone()].concat(), stream.clone());
            // The terminator is the first line that is exactly `data: [DONE]`.
            let mut at = 0;
            let mut terminator = None;
            for line in stream.split_inclusive(|b| *b == b'\n') {
                if line.ends_with(b"\n") && is_terminator(line) {
                    terminator = Some(at);
                    break;
                }
                at += line.len();
            }
            if let Some(t) = terminator {
                prop_assert_eq!(out.len(), t, "everything before the terminator went out");
            }
        }
    }
}
