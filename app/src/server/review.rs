use crate::domain::audit;
use crate::domain::break_glass::{AwaitingReview, EndedWindow};
use crate::domain::review::{Finding, Progress, Review, ReviewNotes};
use crate::domain::AppError;
use crate::domain::{Actor, Permission};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, Pool};
use crate::server::store::break_glass_requests;
use crate::server::store::break_glass_windows::{self, ForReview};
use crate::server::traffic;
use crate::server::watcher::Watcher;
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
        let watcher = self.watcher.snapshot();
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
            ForReview::Ended(mut window) => {
                window.approval = break_glass_requests::approval_of(&self.pool, id).await?;
                Ok(*window)
            }
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
        if window.activated_by == actor.operator.username {
            // Separation of duties: whoever opened the window does not close its review.
            return Err(AppError::OwnWindow);
        }
        let now = self.clock.now();
        let mut tx = database::begin(&self.pool).await?;
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
        audit_trail::record(
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
