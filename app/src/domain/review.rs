//! The post-break-glass review: what went through a window unscanned, what the Session Watcher
//! found in it afterwards, and the sign-off with incident notes.

use crate::domain::break_glass::{EndKind, EndedWindow};
use crate::domain::traffic::{TrafficFilter, TrafficRecord, SOURCE_WATCHER};
use crate::domain::watcher::RunState;
use crate::domain::Verdict;
use crate::domain::{Field, FieldError};
use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// The incident notes of a sign-off: 10 to 10,000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewNotes(String);

impl ReviewNotes {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let notes = raw.trim();
        let n = notes.chars().count();
        if n < Self::MIN_CHARS {
            Err(FieldError::new(
                Field::Notes,
                format!(
                    "Notes must be at least {} characters: say what was found and done",
                    Self::MIN_CHARS
                ),
            ))
        } else if n > Self::MAX_CHARS {
            Err(FieldError::new(
                Field::Notes,
                format!("Notes must be at most {} characters", Self::MAX_CHARS),
            ))
        } else {
            Ok(Self(notes.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How far the watcher has got with the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Transcript messages from the window that the watcher has scanned.
    pub messages_scanned: i64,
    pub bypassed: i64,
    pub bypassed_rescanned: i64,
    /// Bypassed requests whose text was not kept (reported by another proxy without it).
    pub bypassed_without_text: i64,
    pub watcher_state: RunState,
    pub backlog_bytes: u64,
    pub last_scan_at: Option<DateTime<Utc>>,
}

impl Progress {
    pub fn bypassed_pending(&self) -> i64 {
        (self.bypassed - self.bypassed_rescanned - self.bypassed_without_text).max(0)
    }

    /// Whether everything the watcher can see from the window has been scanned.
    pub fn caught_up(&self, ended_at: DateTime<Utc>) -> bool {
        self.watcher_state == RunState::Running
            && self.backlog_bytes == 0
            && self.bypassed_pending() == 0
            && self.last_scan_at.is_some_and(|t| t >= ended_at)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub record: TrafficRecord,
    /// The text that was found (up to 2,000 characters).
    pub excerpt: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub window: EndedWindow,
    pub progress: Progress,
    /// BLOCK and REVIEW findings in the window, highest score first.
    pub findings: Vec<Finding>,
}

impl Review {
    /// The Traffic Monitor filtered to the watcher's records of the window.
    pub fn traffic_link(&self) -> String {
        // Whole seconds, as the Traffic Monitor's time inputs show them, covering the window.
        let from = self.window.activated_at;
        let to = self.window.ended_at;
        let filter = TrafficFilter {
            source: Some(SOURCE_WATCHER.to_owned()),
            from: Some(from.with_nanosecond(0).unwrap_or(from)),
            to: Some(to.with_nanosecond(0).unwrap_or(to) + chrono::TimeDelta::seconds(1)),
            limit: crate::domain::traffic::DEFAULT_PAGE,
            ..Default::default()
        };
        format!("/traffic?{}", filter.to_query(false))
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings
            .iter()
            .filter(|f| f.record.verdict == verdict)
            .count()
    }

    /// The review as a Markdown report for the incident log. Untrusted text (reasons, notes,
    /// excerpts) goes into fenced blocks so it cannot turn into markup.
    pub fn to_markdown(&self) -> String {
        use crate::domain::time_format::utc;
        let w = &self.window;
        let p = &self.progress;
        let mut out = if w.drill {
            format!(
                "# Break-glass drill #{} review\n\nA drill: the procedure was rehearsed and nothing \
                 was bypassed.\n\n",
                w.id
            )
        } else {
            format!("# Break-glass window #{} review\n\n", w.id)
        };
        out.push_str(&format!(
            "- Activated by: {}\n- Scope: {}\n- From: {}\n- To: {} ({} {})\n\
             - Duration (extensions included): {} minutes\n\
             - Unscanned requests: {}\n\nReason:\n\n{}\n",
            inline(&w.activated_by),
            inline(if w.scope.is_empty() {
                "all traffic"
            } else {
                &w.scope
            }),
            utc(w.activated_at),
            utc(w.ended_at),
            w.end_kind.as_str(),
            if w.end_kind == EndKind::Deactivated {
                format!("by {}", inline(&w.ended_by))
            } else {
                "automatically".to_owned()
            },
            w.duration_minutes,
            w.unscanned_count,
            fenced(&w.reason),
        ));
        if let Some(a) = &w.approval {
            out.push_str(&format!(
                "\n## Approval\n\nRequested by {} at {}; approved by {} at {}{}. Note:\n\n{}\n",
                inline(&a.requested_by),
                utc(a.requested_at),
                inline(&a.approved_by),
                utc(a.approved_at),
                a.overrides_review_of
                    .map(|id| format!(
                        ", overriding the review gate (window #{id} was not reviewed yet)"
                    ))
                    .unwrap_or_default(),
                fenced(&a.note),
            ));
        }
        out.push_str("\n## Acknowledgement\n\n");
        match &w.acknowledged {
            Some(a) => out.push_str(&format!(
                "Acknowledged by {} at {}{}. Note:\n\n{}\n",
                inline(&a.by),
                utc(a.at),
                if w.ack_overdue {
                    ", after it fell due (escalated)"
                } else {
                    ""
                },
                fenced(&a.notes),
            )),
            None => out.push_str(if w.ack_overdue {
                "Never acknowledged: escalated when it fell due.\n"
            } else {
                "Never acknowledged.\n"
            }),
        }
        if !w.extensions.is_empty() {
            out.push_str("\n## Extensions\n");
            for e in &w.extensions {
                out.push_str(&format!(
                    "\n- {} by {}: {} minutes more, to {}. Reason:\n\n{}\n",
                    utc(e.at),
                    inline(&e.by),
                    e.minutes,
                    utc(e.expires_after),
                    fenced(&e.reason),
                ));
            }
        }
        out.push_str(&format!(
            "\n## Session Watcher progress\n\n- Transcript messages scanned from the window: {}\n\
             - Bypassed requests rescanned: {} of {} ({} pending, {} without kept text)\n\
             - Caught up: {}\n",
            p.messages_scanned,
            p.bypassed_rescanned,
            p.bypassed,
            p.bypassed_pending(),
            p.bypassed_without_text,
            if p.caught_up(w.ended_at) { "yes" } else { "no" },
        ));
        out.push_str(&format!(
            "\n## Findings\n\n{} BLOCK, {} REVIEW.\n",
            self.count(Verdict::Block),
            self.count(Verdict::Review)
        ));
        for f in &self.findings {
            let r = &f.record;
            let rules: Vec<&str> = r.detections.iter().map(|d| d.rule.as_str()).collect();
            out.push_str(&format!(
                "\n### {} {} at {}\n\n- {}\n- Session: {}\n- Model: {}\n- Rules: {}\n",
                r.verdict.as_str(),
                r.score.unwrap_or_default(),
                utc(r.at),
                match (&r.rescan_of, &r.direction) {
                    (Some(id), _) => format!("Rescan of bypassed request record #{id}"),
                    (None, Some(d)) => format!("Transcript message, {d}"),
                    (None, None) => "Transcript message".to_owned(),
                },
                inline(r.session_id.as_deref().unwrap_or("-")),
                inline(r.model.as_deref().unwrap_or("-")),
                rules.join(", "),
            ));
            if let Some(text) = &f.excerpt {
                out.push_str(&format!("\n{}\n", fenced(text)));
            }
        }
        out.push_str("\n## Sign-off\n\n");
        match &w.reviewed {
            Some(s) => out.push_str(&format!(
                "Reviewed by {} at {}.\n\n{}\n",
                inline(&s.by),
                utc(s.at),
                fenced(&s.notes)
            )),
            None => out.push_str("Not reviewed yet.\n"),
        }
        out
    }
}

/// A fenced block longer than any run of backticks inside the text.
fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{text}\n{fence}")
}

/// A short value on one line, with Markdown's special characters escaped.
fn inline(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' => vec!['\\', c],
            '\n' | '\r' => vec![' '],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_need_ten_to_ten_thousand_characters() {
        assert_eq!(
            ReviewNotes::parse("  too short ").unwrap_err().field,
            Field::Notes
        );
        assert_eq!(
            ReviewNotes::parse("  Checked all, ok.  ").unwrap().as_str(),
            "Checked all, ok."
        );
        assert!(ReviewNotes::parse(&"x".repeat(10_001)).is_err());
        assert!(
            ReviewNotes::parse(&"é".repeat(10_000)).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn untrusted_text_cannot_break_out_of_its_fence() {
        let f = fenced("a ``` b ```` c");
        assert!(f.starts_with("`````text\n"), "{f}");
        assert!(f.ends_with("\n`````"), "{f}");
        assert_eq!(inline("x|y<script>\nz"), "x\\|y\\<script\\> z");
    }
}
