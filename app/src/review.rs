//! The post-break-glass review: what went through a window unscanned, what the Session Watcher
//! found in it afterwards, and the sign-off with incident notes.

use crate::domain::break_glass::{EndKind, EndedWindow};
use crate::domain::Verdict;
use crate::domain::{Field, FieldError};
use crate::traffic::{TrafficFilter, TrafficRecord, SOURCE_WATCHER};
use crate::watcher::RunState;
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
            limit: crate::traffic::DEFAULT_PAGE,
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
        let mut out = format!("# Break-glass window #{} review\n\n", w.id);
        out.push_str(&format!(
            "- Activated by: {}\n- From: {}\n- To: {} ({} {})\n- Requested duration: {} minutes\n\
             - Unscanned requests: {}\n\nReason:\n\n{}\n",
            inline(&w.activated_by),
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

#[cfg(feature = "ssr")]
pub use store::Reviews;

#[cfg(feature = "ssr")]
mod store {
    use super::{Finding, Progress, Review, ReviewNotes};
    use crate::audit;
    use crate::clock::SharedClock;
    use crate::database::Pool;
    use crate::domain::break_glass::{AwaitingReview, EndedWindow};
    use crate::domain::AppError;
    use crate::domain::{Actor, Permission};
    use crate::server::store::break_glass_windows::{self, ForReview};
    use crate::traffic;
    use crate::watcher::service::Watcher;
    use std::sync::Arc;

    /// The reviews of ended windows: what it needs is the store, the clock (for sign-offs) and
    /// the Session Watcher (for its progress).
    #[derive(Clone)]
    pub struct Reviews {
        pool: Pool,
        clock: SharedClock,
        watcher: Arc<Watcher>,
    }

    impl Reviews {
        pub fn new(pool: Pool, clock: SharedClock, watcher: Arc<Watcher>) -> Self {
            Self {
                pool,
                clock,
                watcher,
            }
        }

        /// The review of window `id`, for a caller who may read the audit trail; 404 for no such
        /// window, 409 while it is still open.
        pub async fn load(&self, actor: &Actor, id: i64) -> Result<Review, AppError> {
            actor.require(Permission::AuditRead)?;
            self.review_of(id).await
        }

        async fn review_of(&self, id: i64) -> Result<Review, AppError> {
            let pool = &self.pool;
            let window = self.ended_window(id).await?;
            let counts = traffic::in_window(pool, window.activated_at, window.ended_at).await?;
            let watcher = self.watcher.status();
            let findings = traffic::watcher_findings(pool, window.activated_at, window.ended_at)
                .await?
                .into_iter()
                .map(|(record, excerpt)| Finding { record, excerpt })
                .collect();
            Ok(Review {
                window,
                progress: Progress {
                    messages_scanned: counts.messages_scanned,
                    bypassed: counts.bypassed,
                    bypassed_rescanned: counts.bypassed_rescanned,
                    bypassed_without_text: counts.bypassed_without_text,
                    watcher_state: watcher.state,
                    backlog_bytes: watcher.backlog_bytes,
                    last_scan_at: watcher.last_scan_at,
                },
                findings,
            })
        }

        async fn ended_window(&self, id: i64) -> Result<EndedWindow, AppError> {
            match break_glass_windows::for_review(&self.pool, id).await? {
                ForReview::NoSuchWindow => {
                    Err(AppError::NotFound(format!("No break-glass window #{id}")))
                }
                ForReview::StillOpen => Err(AppError::Conflict(format!(
                    "Break-glass window #{id} is still active; it can be reviewed once it ends"
                ))),
                ForReview::Ended(window) => Ok(window),
            }
        }

        /// Marks window `id` reviewed with `notes` (audited); a window is signed off once.
        pub async fn sign_off(
            &self,
            actor: &Actor,
            id: i64,
            notes: &ReviewNotes,
        ) -> Result<Review, AppError> {
            actor.require(Permission::BreakGlassReview)?;
            let window = self.ended_window(id).await?;
            if let Some(s) = &window.reviewed {
                return Err(AppError::Conflict(format!(
                    "Window #{id} was already reviewed by {} at {}",
                    s.by,
                    crate::domain::time_format::utc(s.at)
                )));
            }
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let signed = break_glass_windows::sign_off(
                &mut tx,
                id,
                now,
                &actor.operator.username,
                notes.as_str(),
            )
            .await?;
            if !signed {
                return Err(AppError::Conflict(format!(
                    "Window #{id} was reviewed by someone else just now"
                )));
            }
            audit::record(
                &mut tx,
                now,
                &actor.operator.username,
                audit::REVIEW,
                serde_json::json!({
                    "window_id": id,
                    "activated_by": window.activated_by,
                    "unscanned_traffic": window.unscanned_count,
                }),
                actor.source_addr.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.review_of(id).await
        }

        /// Ended windows without a review, newest first, for a caller who may read the audit
        /// trail.
        pub async fn awaiting(&self, actor: &Actor) -> Result<Vec<AwaitingReview>, AppError> {
            actor.require(Permission::AuditRead)?;
            Ok(break_glass_windows::awaiting_review(&self.pool, 50).await?)
        }
    }
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
