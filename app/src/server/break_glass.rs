//! The break-glass service: the pure lifecycle plus storage, alerts, audit, events and the
//! expiry timer. Every transition goes through here, whether it comes from the JSON API, a
//! server function or the clock.

use crate::domain::alerts::{Alert, Severity};
use crate::domain::audit;
use crate::domain::break_glass::machine::{
    AckRefusal, AckState, Change, DecideRefusal, EndKind, Ended, ExtendRefusal, ExtensionAsk,
    Lifecycle, Refusal, Request, Window, COOL_DOWN,
};
use crate::domain::break_glass::status::{active_minutes, seconds_until, ActivatedWindow};
use crate::domain::break_glass::{
    AckMinutes, AckNote, AcknowledgementRequest, Activation, ActivationRequest, BreakGlassStatus,
    BypassScope, DeactivationSummary, DrillDays, Extension, ExtensionRequest, Mode, Policy,
    PolicyChange, PolicyRequest, ScopeChoice, WindowPick,
};
use crate::domain::events::{ServerEvent, StateChange, StateEvent};
use crate::domain::notifications::{Notice, Topic};
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Link;
use crate::domain::{Actor, Field, FieldError, Permission, Reader, Scope};
use crate::server::alerts::{self, NewAlert};
use crate::server::api_keys;
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, Pool};
use crate::server::events::EventHub;
use crate::server::notifications::outbox;
use crate::server::store::break_glass_requests::{self as requests, Decided};
use crate::server::store::break_glass_windows::{self as store, InsertRefused};
use crate::server::store::settings;
use crate::server::traffic;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use std::sync::Arc;
use tokio::sync::{watch, Mutex};

pub const ALERT_SOURCE: &str = "break-glass";

pub struct BreakGlassService {
    pool: Pool,
    clock: SharedClock,
    events: EventHub,
    /// Held for the whole of a transition, so that transitions never interleave.
    lifecycle: Mutex<Lifecycle>,
    /// The committed state, for readers that must not wait (status, SSE, the gateway).
    current: watch::Sender<Lifecycle>,
    /// Whether this replica hears the others (see `replication`); activation waits for it.
    link: watch::Receiver<Link>,
    /// The deployment's policy (stored as settings; changes apply to the next activation):
    /// emergency or approval, and the deadlines of acknowledgements and decisions.
    policy: watch::Sender<Policy>,
    /// When the newest drill started (from the store; moved by every drill on any replica).
    last_drill: watch::Sender<Option<DateTime<Utc>>>,
}

impl BreakGlassService {
    /// Loads the stored state and reconciles it with the clock: a window that expired while
    /// the server was down is closed now, at its `expires_at`.
    pub async fn load(
        pool: Pool,
        clock: SharedClock,
        events: EventHub,
        link: watch::Receiver<Link>,
        default_ack: AckMinutes,
    ) -> Result<Arc<Self>, sqlx::Error> {
        let policy = stored_policy(&pool, default_ack).await?;
        let stored = stored_state(&pool, policy.ack_minutes.as_delta()).await?;
        let last_drill = store::last_drill(&pool).await?;
        let service = Arc::new(Self {
            last_drill: watch::channel(last_drill).0,
            pool,
            clock,
            events,
            lifecycle: Mutex::new(stored.clone()),
            current: watch::channel(stored).0,
            link,
            policy: watch::channel(policy).0,
        });
        service.advance().await?;
        Ok(service)
    }

    /// The status as of now. Reading ticks the committed state, so a reader never sees a
    /// window past its `expires_at` as active, even in the instant before the timer commits.
    pub fn status(&self, reader: &Reader) -> Result<BreakGlassStatus, AppError> {
        reader.require(Permission::StatusRead, Scope::BreakGlassRead)?;
        Ok(self.current_status())
    }

    fn current_status(&self) -> BreakGlassStatus {
        let now = self.now();
        let (state, _) = self.current.borrow().tick(now);
        let policy = *self.policy.borrow();
        let last_drill_at = *self.last_drill.borrow();
        BreakGlassStatus {
            degraded: self.link.borrow().degraded(),
            approval_required: policy.approval_required(),
            review_gate: policy.review_gate,
            last_drill_at,
            drill_overdue: last_drill_at.is_none_or(|at| now - at > policy.drill_days.as_delta()),
            ..BreakGlassStatus::of(&state, now)
        }
    }

    /// Tells the tabs that this replica's link changed (lost, or back and caught up).
    pub fn announce_link(&self) {
        self.publish_change(None);
    }

    /// Whether a request with this key and model bypasses the shield right now: a real
    /// window is open and its scope covers both. Reads memory only: the gateway asks on every
    /// request, and the answer changes the moment a transition commits.
    pub fn bypasses(&self, key_id: i64, model: &str) -> bool {
        let (state, _) = self.current.borrow().tick(self.now());
        matches!(state, Lifecycle::Active(w) if w.bypasses(key_id, model))
    }

    /// Whether every model this key calls bypasses the shield right now (which upstream lists
    /// the models).
    pub fn bypasses_key(&self, key_id: i64) -> bool {
        let (state, _) = self.current.borrow().tick(self.now());
        matches!(state, Lifecycle::Active(w) if w.scope.models.is_empty() && w.bypasses(key_id, ""))
    }

    pub fn subscribe(&self) -> watch::Receiver<Lifecycle> {
        self.current.subscribe()
    }

    /// An activation as either door received it: refused (and audited) for a role that may
    /// not activate before it is parsed, then parsed in form order, then carried out. An open
    /// drill ends at once.
    pub async fn activate(
        &self,
        actor: &Actor,
        raw: ActivationRequest,
    ) -> Result<ActivatedWindow, AppError> {
        self.open(actor, raw, false).await
    }

    /// Starts a drill, as either door received it: the activation's input, dialog, banner,
    /// alerts, notifications, acknowledgement, end and review, all marked as a drill, with no
    /// bypass and no cool-down after it. Needs no approval and passes the review gate.
    pub async fn start_drill(
        &self,
        actor: &Actor,
        raw: ActivationRequest,
    ) -> Result<ActivatedWindow, AppError> {
        self.open(actor, raw, true).await
    }

    async fn open(
        &self,
        actor: &Actor,
        raw: ActivationRequest,
        drill: bool,
    ) -> Result<ActivatedWindow, AppError> {
        self.refuse_unpermitted(actor, raw.reason_text()).await?;
        let activation = Activation::try_from(raw)?;
        let scope = self.named_scope(&activation.scope).await?;
        let policy = *self.policy.borrow();
        let refused = if drill {
            None
        } else if policy.approval_required() {
            Some(AppError::ApprovalRequired)
        } else {
            self.review_gate(&policy)
                .await?
                .map(|window_id| AppError::ReviewPending { window_id })
        };
        if let Some(e) = refused {
            self.record_denied(actor, Self::denial(&activation, &e))
                .await?;
            return Err(e);
        }
        if self.link.borrow().degraded() {
            // Another replica may have activated unheard: only the database can say, and
            // this replica cannot hear it. The attempt is audited if the store is reachable.
            let denied = self
                .record_denied(actor, Self::denial(&activation, &AppError::Degraded))
                .await;
            if let Err(e) = denied {
                tracing::warn!(error = %e, "a refused activation could not be audited");
            }
            return Err(AppError::Degraded);
        }
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let by = &actor.operator.username;
        let (opened, superseded) = if drill {
            (
                lifecycle.drill(now, &activation, by, self.ack_within()),
                None,
            )
        } else {
            (
                lifecycle.activate(now, &activation, by, self.ack_within()),
                lifecycle.superseded_drill(now),
            )
        };
        let window = match opened {
            Ok(w) => w.scoped(scope),
            Err(refusal) => {
                let e = refusal_error(refusal, now);
                drop(lifecycle);
                self.record_denied(actor, Self::denial(&activation, &e))
                    .await?;
                return Err(e);
            }
        };
        let mut tx = database::begin(&self.pool).await?;
        let drill_end = match &superseded {
            Some(ended) => match self.write_end(&mut tx, ended, by, None).await? {
                Some((_, alert)) => Some(alert),
                None => {
                    drop(tx);
                    self.adopt_stored(&mut lifecycle, now).await?;
                    return Err(AppError::Conflict(
                        "The drill changed meanwhile (ended elsewhere); look again".into(),
                    ));
                }
            },
            None => None,
        };
        let id = match store::insert(&mut tx, &window).await {
            Ok(id) => id,
            Err(refused) => {
                drop(tx);
                return Err(self.resync_after(refused, &mut lifecycle, now).await);
            }
        };
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::Critical,
                source: ALERT_SOURCE,
                title: if window.drill {
                    format!(
                        "[DRILL] Break-Glass Drill Started — {} minutes, nothing bypassed",
                        window.duration.minutes()
                    )
                } else {
                    format!(
                        "Break-Glass Activated — Shield bypass for {} minutes{}",
                        window.duration.minutes(),
                        scope_note(&window.scope)
                    )
                },
                message: format!(
                    "{} {} until {}. Scope: {}. Reason: {}",
                    window.activated_by,
                    if window.drill {
                        "started a break-glass drill (traffic is still scanned)"
                    } else {
                        "activated break-glass"
                    },
                    time_format::utc(window.expires_at),
                    window.scope.describe(),
                    window.reason.as_str()
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::Activation),
            },
        )
        .await?;
        if window.acknowledgement.due_at < window.expires_at {
            outbox::enqueue(&mut tx, &ack_due_notice(id, &window)).await?;
        }
        audit_trail::record(
            &mut tx,
            now,
            by,
            if window.drill {
                audit::DRILL
            } else {
                audit::ACTIVATE
            },
            serde_json::json!({
                "window_id": id,
                "reason": window.reason.as_str(),
                "duration_minutes": window.duration.minutes(),
                "expires_at": window.expires_at,
                "scope": window.scope,
                "scope_text": window.scope.describe(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        if let Some(alert) = drill_end {
            self.events.publish(&ServerEvent::Alert(alert));
        }
        if window.drill {
            self.last_drill.send_replace(Some(now));
        }
        Ok(self.announce(
            &mut lifecycle,
            id,
            window,
            StateChange::Activated,
            Some(alert),
        ))
    }

    /// The operator's scope with each key's name; a key that is not live with the gateway
    /// scope is refused by its id.
    async fn named_scope(&self, choice: &ScopeChoice) -> Result<BypassScope, AppError> {
        let keys = if choice.keys.is_empty() {
            Vec::new()
        } else {
            api_keys::live_gateway_keys(&self.pool, self.now()).await?
        };
        Ok(choice.named(|id| keys.iter().find(|k| k.id == id).map(|k| k.name.clone()))?)
    }

    fn ack_within(&self) -> TimeDelta {
        self.policy.borrow().ack_minutes.as_delta()
    }

    /// The policy every new window is opened under.
    pub fn policy(&self, reader: &Reader) -> Result<Policy, AppError> {
        reader.require(Permission::StatusRead, Scope::BreakGlassRead)?;
        Ok(*self.policy.borrow())
    }

    /// Changes the policy (admins): what the change names is stored as settings and audited
    /// with the values it replaced; the next activation is opened under it, on every replica.
    pub async fn set_policy(&self, actor: &Actor, raw: PolicyRequest) -> Result<Policy, AppError> {
        actor.require(Permission::PolicyConfigure)?;
        let change = PolicyChange::try_from(raw)?;
        let before = *self.policy.borrow();
        let policy = before.with(change);
        let now = self.now();
        let by = &actor.operator.username;
        let mut tx = database::begin(&self.pool).await?;
        for (name, value) in [
            (POLICY_SETTING, policy.ack_minutes.minutes().to_string()),
            (MODE_SETTING, policy.mode.as_str().to_owned()),
            (
                APPROVAL_SETTING,
                policy.approval_minutes.minutes().to_string(),
            ),
            (
                REVIEW_GATE_SETTING,
                if policy.review_gate { "on" } else { "off" }.to_owned(),
            ),
            (DRILL_SETTING, policy.drill_days.days().to_string()),
        ] {
            settings::put(&mut tx, name, &value, now, by).await?;
        }
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::POLICY,
            serde_json::json!({
                "ack_minutes": policy.ack_minutes.minutes(),
                "ack_minutes_before": before.ack_minutes.minutes(),
                "mode": policy.mode.as_str(),
                "mode_before": before.mode.as_str(),
                "approval_minutes": policy.approval_minutes.minutes(),
                "approval_minutes_before": before.approval_minutes.minutes(),
                "review_gate": policy.review_gate,
                "review_gate_before": before.review_gate,
                "drill_days": policy.drill_days.days(),
                "drill_days_before": before.drill_days.days(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        self.policy.send_replace(policy);
        // Every tab learns whether the dialog now requests or activates.
        self.publish_change(None);
        Ok(policy)
    }

    /// Reads the stored policy again (another replica may have set it).
    pub async fn reload_policy(&self) -> Result<(), sqlx::Error> {
        let default_ack = self.policy.borrow().ack_minutes;
        let policy = stored_policy(&self.pool, default_ack).await?;
        if self.policy.send_replace(policy) != policy {
            self.publish_change(None);
        }
        Ok(())
    }

    /// Stores an extension asked for under the approval policy (the window's end stays until
    /// a second operator approves it): audited, with a HIGH alert that tells the approvers.
    async fn ask_extension(
        &self,
        actor: &Actor,
        lifecycle: &mut Lifecycle,
        before: Window,
        asked: Window,
        now: DateTime<Utc>,
    ) -> Result<ActivatedWindow, AppError> {
        let by = &actor.operator.username;
        let Some(ask) = asked.extension_request.clone() else {
            return Err(AppError::Internal);
        };
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) = store::ask_extension(&mut tx, &before, &ask).await? else {
            drop(tx);
            self.adopt_stored(lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The window changed meanwhile (ended, or an extension asked elsewhere); look again"
                    .into(),
            ));
        };
        let minutes = ask.minutes.minutes();
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::High,
                source: ALERT_SOURCE,
                title: format!(
                    "Break-Glass Extension Requested — {minutes} more minutes, waiting for approval"
                ),
                message: format!(
                    "{by} asks to extend break-glass by {minutes} minutes. Reason: {}. Someone \
                     with break_glass:approve other than {by} must approve or deny it by {}.",
                    ask.reason.as_str(),
                    time_format::utc(ask.decide_by),
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::ApprovalRequested),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::EXTEND_REQUEST,
            serde_json::json!({
                "window_id": id,
                "reason": ask.reason.as_str(),
                "minutes": minutes,
                "decide_by": ask.decide_by,
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(self.announce(
            lifecycle,
            id,
            asked,
            StateChange::ExtensionRequested,
            Some(alert),
        ))
    }

    /// A second operator approves the extension waiting on the open window: its end moves,
    /// recorded as the requester's extension with the approver's name.
    async fn approve_extension(
        &self,
        actor: &Actor,
        lifecycle: &mut Lifecycle,
        before: Window,
        note: &AckNote,
        now: DateTime<Utc>,
    ) -> Result<ActivatedWindow, AppError> {
        let by = &actor.operator.username;
        let Some(ask) = before.extension_request.clone() else {
            return Err(no_request());
        };
        let after = lifecycle.approve_extension(now, by).map_err(decide_error)?;
        let mut tx = database::begin(&self.pool).await?;
        let cleared = store::clear_extension_ask(&mut tx, &before, &ask).await?;
        let extended = match cleared {
            Some(_) => {
                store::extend(
                    &mut tx,
                    &before,
                    &after,
                    now,
                    &ask.requested_by,
                    ask.reason.as_str(),
                )
                .await?
            }
            None => None,
        };
        let Some(id) = extended else {
            drop(tx);
            self.adopt_stored(lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The extension was decided meanwhile, or the window ended; look again".into(),
            ));
        };
        let minutes = ask.minutes.minutes();
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::High,
                source: ALERT_SOURCE,
                title: format!(
                    "Break-Glass Extended — {minutes} more minutes of shield bypass, approved by {by}"
                ),
                message: format!(
                    "{by} approved {}'s extension by {minutes} minutes, until {}. Reason: {}. \
                     Approval note: {}",
                    ask.requested_by,
                    time_format::utc(after.expires_at),
                    ask.reason.as_str(),
                    note.as_str()
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::Extension),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::APPROVE,
            serde_json::json!({
                "window_id": id,
                "extension_minutes": minutes,
                "requested_by": ask.requested_by,
                "note": note.as_str(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            &ask.requested_by,
            audit::EXTEND,
            serde_json::json!({
                "window_id": id,
                "reason": ask.reason.as_str(),
                "minutes": minutes,
                "expires_before": before.expires_at,
                "expires_at": after.expires_at,
                "approved_by": by,
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(self.announce(lifecycle, id, after, StateChange::Extended, Some(alert)))
    }

    /// A second operator denies the extension waiting on the open window: its end stays.
    async fn deny_extension(
        &self,
        actor: &Actor,
        lifecycle: &mut Lifecycle,
        before: Window,
        note: &AckNote,
        now: DateTime<Utc>,
    ) -> Result<BreakGlassStatus, AppError> {
        let by = &actor.operator.username;
        let Some(ask) = before.extension_request.clone() else {
            return Err(no_request());
        };
        let after = lifecycle.deny_extension(now, by).map_err(decide_error)?;
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) = store::clear_extension_ask(&mut tx, &before, &ask).await? else {
            drop(tx);
            self.adopt_stored(lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The extension was decided meanwhile, or the window ended; look again".into(),
            ));
        };
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::Medium,
                source: ALERT_SOURCE,
                title: format!("Break-Glass Extension Denied by {by}"),
                message: format!(
                    "{by} denied {}'s extension by {} minutes ({}). Note: {}",
                    ask.requested_by,
                    ask.minutes.minutes(),
                    ask.reason.as_str(),
                    note.as_str()
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::Denied),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::DENY,
            serde_json::json!({
                "window_id": id,
                "extension_minutes": ask.minutes.minutes(),
                "requested_by": ask.requested_by,
                "note": note.as_str(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        self.announce(lifecycle, id, after, StateChange::Denied, Some(alert));
        Ok(self.current_status())
    }

    /// Takes a lapsed extension off the open window, once across replicas. False when the
    /// store no longer has it waiting.
    async fn record_extension_lapse(
        &self,
        before: &Window,
        ask: &ExtensionAsk,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) = store::clear_extension_ask(&mut tx, before, ask).await? else {
            return Ok(false);
        };
        audit_trail::record(
            &mut tx,
            ask.decide_by,
            audit::SYSTEM,
            audit::REQUEST_LAPSED,
            serde_json::json!({
                "window_id": id,
                "extension_minutes": ask.minutes.minutes(),
                "requested_by": ask.requested_by,
            }),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The earlier window that the policy's review gate waits on, if the gate is on and one
    /// still waits for its review.
    async fn review_gate(&self, policy: &Policy) -> Result<Option<i64>, sqlx::Error> {
        if !policy.review_gate {
            return Ok(None);
        }
        store::gating_review(&self.pool).await
    }

    /// Asks for a window under the approval-required policy, as either door received it: a
    /// second operator approves it (the window opens then) or denies it by the policy's
    /// deadline. Audited, with a HIGH alert that tells the approvers.
    pub async fn request(
        &self,
        actor: &Actor,
        raw: ActivationRequest,
    ) -> Result<BreakGlassStatus, AppError> {
        self.refuse_unpermitted(actor, raw.reason_text()).await?;
        let activation = Activation::try_from(raw)?;
        let scope = self.named_scope(&activation.scope).await?;
        let policy = *self.policy.borrow();
        let gate = self.review_gate(&policy).await?;
        if !policy.approval_required() && gate.is_none() {
            return Err(AppError::Conflict(
                "This deployment needs no approval now: activate break-glass directly".into(),
            ));
        }
        if self.link.borrow().degraded() {
            return Err(AppError::Degraded);
        }
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let by = &actor.operator.username;
        let request = match lifecycle.request(
            now,
            &activation,
            by,
            policy.approval_minutes.as_delta(),
            gate,
        ) {
            Ok(r) => Request { scope, ..r },
            Err(refusal) => {
                let e = refusal_error(refusal, now);
                drop(lifecycle);
                self.record_denied(actor, Self::denial(&activation, &e))
                    .await?;
                return Err(e);
            }
        };
        let superseded = lifecycle.superseded_drill(now);
        let mut tx = database::begin(&self.pool).await?;
        let drill_end = match &superseded {
            Some(ended) => self.write_end(&mut tx, ended, by, None).await?,
            None => None,
        };
        if superseded.is_some() != drill_end.is_some() {
            drop(tx);
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The drill changed meanwhile (ended elsewhere); look again".into(),
            ));
        }
        let Some(id) = requests::insert(&mut tx, &request).await? else {
            drop(tx);
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::Conflict(
                "Break-glass changed meanwhile (requested or activated elsewhere); look again"
                    .into(),
            ));
        };
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::High,
                source: ALERT_SOURCE,
                title: format!(
                    "Break-Glass Requested — {} minutes, waiting for approval",
                    request.duration.minutes()
                ),
                message: format!(
                    "{by} requests a break-glass window of {} minutes bypassing {}. Reason: \
                     {}.{} Someone with break_glass:approve other than {by} must approve or \
                     deny it by {}.",
                    request.duration.minutes(),
                    request.scope.describe(),
                    request.reason.as_str(),
                    override_words(&request),
                    time_format::utc(request.decide_by),
                ),
                window_id: None,
                link: None,
                topic: Some(Topic::ApprovalRequested),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::REQUEST,
            serde_json::json!({
                "request_id": id,
                "reason": request.reason.as_str(),
                "duration_minutes": request.duration.minutes(),
                "decide_by": request.decide_by,
                "overrides_review_of": request.overrides_review_of,
                "scope": request.scope,
                "scope_text": request.scope.describe(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        if let Some((_, alert)) = drill_end {
            self.events.publish(&ServerEvent::Alert(alert));
        }
        self.commit_state(&mut lifecycle, Lifecycle::Requested(request));
        self.publish_change(Some(StateChange::Requested));
        self.events.publish(&ServerEvent::Alert(alert));
        Ok(self.current_status())
    }

    /// A second operator approves the waiting request: the window opens now, for the
    /// requested duration, in the requester's name and acknowledged by the approver.
    pub async fn approve(
        &self,
        actor: &Actor,
        raw: AcknowledgementRequest,
    ) -> Result<ActivatedWindow, AppError> {
        actor.require(Permission::BreakGlassApprove)?;
        let note = AckNote::try_from(raw)?;
        if self.link.borrow().degraded() {
            return Err(AppError::Degraded);
        }
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let by = &actor.operator.username;
        let request = match lifecycle.clone() {
            Lifecycle::Requested(request) => request,
            Lifecycle::Active(before) if before.extension_request.is_some() => {
                return self
                    .approve_extension(actor, &mut lifecycle, before, &note, now)
                    .await;
            }
            _ => return Err(no_request()),
        };
        let window = lifecycle.approve(now, by).map_err(decide_error)?;
        let mut tx = database::begin(&self.pool).await?;
        let Some(request_id) = requests::decide(
            &mut tx,
            &request,
            Decided::Approved,
            now,
            by,
            Some(note.as_str()),
        )
        .await?
        else {
            drop(tx);
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The request was decided meanwhile; look again".into(),
            ));
        };
        let id = match store::insert(&mut tx, &window).await {
            Ok(id) => id,
            Err(refused) => {
                drop(tx);
                return Err(self.resync_after(refused, &mut lifecycle, now).await);
            }
        };
        store::acknowledge(&mut tx, &window, now, by, note.as_str()).await?;
        requests::opened(&mut tx, request_id, id).await?;
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::Critical,
                source: ALERT_SOURCE,
                title: format!(
                    "Break-Glass Activated — Shield bypass for {} minutes{}, approved by {by}",
                    window.duration.minutes(),
                    scope_note(&window.scope)
                ),
                message: format!(
                    "{by} approved {}'s request: break-glass bypasses {} until {}. Reason: \
                     {}.{} Approval note: {}",
                    window.activated_by,
                    window.scope.describe(),
                    time_format::utc(window.expires_at),
                    window.reason.as_str(),
                    override_words(&request),
                    note.as_str()
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::Approved),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::APPROVE,
            serde_json::json!({
                "request_id": request_id,
                "window_id": id,
                "requested_by": request.requested_by,
                "note": note.as_str(),
                "overrides_review_of": request.overrides_review_of,
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            &window.activated_by,
            audit::ACTIVATE,
            serde_json::json!({
                "window_id": id,
                "reason": window.reason.as_str(),
                "duration_minutes": window.duration.minutes(),
                "expires_at": window.expires_at,
                "approved_by": by,
                "request_id": request_id,
                "scope": window.scope,
                "scope_text": window.scope.describe(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(self.announce(
            &mut lifecycle,
            id,
            window,
            StateChange::Approved,
            Some(alert),
        ))
    }

    /// A second operator denies the waiting request, with a note: nothing opens, and no
    /// cool-down runs.
    pub async fn deny(
        &self,
        actor: &Actor,
        raw: AcknowledgementRequest,
    ) -> Result<BreakGlassStatus, AppError> {
        actor.require(Permission::BreakGlassApprove)?;
        let note = AckNote::try_from(raw)?;
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let by = &actor.operator.username;
        if let Lifecycle::Active(before) = lifecycle.clone() {
            if before.extension_request.is_some() {
                return self
                    .deny_extension(actor, &mut lifecycle, before, &note, now)
                    .await;
            }
        }
        let request = lifecycle.deny(now, by).map_err(decide_error)?;
        let mut tx = database::begin(&self.pool).await?;
        let Some(request_id) = requests::decide(
            &mut tx,
            &request,
            Decided::Denied,
            now,
            by,
            Some(note.as_str()),
        )
        .await?
        else {
            drop(tx);
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The request was decided meanwhile; look again".into(),
            ));
        };
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::Medium,
                source: ALERT_SOURCE,
                title: format!("Break-Glass Request Denied by {by}"),
                message: format!(
                    "{by} denied {}'s request for break-glass ({}). Note: {}",
                    request.requested_by,
                    request.reason.as_str(),
                    note.as_str()
                ),
                window_id: None,
                link: None,
                topic: Some(Topic::Denied),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::DENY,
            serde_json::json!({
                "request_id": request_id,
                "requested_by": request.requested_by,
                "note": note.as_str(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        self.commit_state(&mut lifecycle, Lifecycle::Inactive);
        self.publish_change(Some(StateChange::Denied));
        self.events.publish(&ServerEvent::Alert(alert));
        Ok(self.current_status())
    }

    /// Records that nobody decided `request` by its deadline, once across replicas. False when
    /// the store no longer has it waiting.
    async fn record_lapse(&self, request: &Request) -> Result<bool, sqlx::Error> {
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) = requests::decide(
            &mut tx,
            request,
            Decided::Lapsed,
            request.decide_by,
            audit::SYSTEM,
            None,
        )
        .await?
        else {
            return Ok(false);
        };
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: request.decide_by,
                severity: Severity::Medium,
                source: ALERT_SOURCE,
                title: "Break-Glass Request Lapsed".to_owned(),
                message: format!(
                    "Nobody approved or denied {}'s request for break-glass ({}) by {}. It must \
                     be made again.",
                    request.requested_by,
                    request.reason.as_str(),
                    time_format::utc(request.decide_by),
                ),
                window_id: None,
                link: None,
                topic: Some(Topic::Denied),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            request.decide_by,
            audit::SYSTEM,
            audit::REQUEST_LAPSED,
            serde_json::json!({ "request_id": id, "requested_by": request.requested_by }),
            None,
        )
        .await?;
        tx.commit().await?;
        self.events.publish(&ServerEvent::Alert(alert));
        Ok(true)
    }

    /// Moves the open window's end later, as either door received the request: audited, with
    /// a HIGH alert, and every tab's countdown moves with the state event. The whole window
    /// never lasts more than 4 hours from its activation; a degraded replica refuses, as it
    /// refuses activations.
    pub async fn extend(
        &self,
        actor: &Actor,
        raw: ExtensionRequest,
    ) -> Result<ActivatedWindow, AppError> {
        actor.require(Permission::BreakGlassActivate)?;
        let extension = Extension::try_from(raw)?;
        if self.link.borrow().degraded() {
            return Err(AppError::Degraded);
        }
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let Lifecycle::Active(before) = lifecycle.clone() else {
            return Err(AppError::NotActive);
        };
        let by = &actor.operator.username;
        let policy = *self.policy.borrow();
        if policy.approval_required() {
            let asked = lifecycle
                .ask_extension(
                    now,
                    extension.minutes,
                    &extension.reason,
                    by,
                    policy.approval_minutes.as_delta(),
                )
                .map_err(extend_error)?;
            return self
                .ask_extension(actor, &mut lifecycle, before, asked, now)
                .await;
        }
        let after = lifecycle
            .extend(now, extension.minutes)
            .map_err(extend_error)?;
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) =
            store::extend(&mut tx, &before, &after, now, by, extension.reason.as_str()).await?
        else {
            // Another writer ended or extended it first: take the stored truth.
            drop(tx);
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The window changed meanwhile (ended or extended elsewhere); look again".into(),
            ));
        };
        let minutes = extension.minutes.minutes();
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: now,
                severity: Severity::High,
                source: ALERT_SOURCE,
                title: drill_marked(
                    before.drill,
                    &format!("Break-Glass Extended — {minutes} more minutes of shield bypass"),
                ),
                message: format!(
                    "{by} extended break-glass by {minutes} minutes, until {}. Reason: {}",
                    time_format::utc(after.expires_at),
                    extension.reason.as_str()
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::Extension),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::EXTEND,
            serde_json::json!({
                "window_id": id,
                "reason": extension.reason.as_str(),
                "minutes": minutes,
                "expires_before": before.expires_at,
                "expires_at": after.expires_at,
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(self.announce(
            &mut lifecycle,
            id,
            after,
            StateChange::Extended,
            Some(alert),
        ))
    }

    /// A second operator answers for the open window: never its activator; in time or late
    /// (after the escalation), once. Audited; every tab hears it.
    pub async fn acknowledge(
        &self,
        actor: &Actor,
        raw: AcknowledgementRequest,
    ) -> Result<ActivatedWindow, AppError> {
        actor.require(Permission::BreakGlassAcknowledge)?;
        let note = AckNote::try_from(raw)?;
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let Lifecycle::Active(before) = lifecycle.clone() else {
            return Err(AppError::NotActive);
        };
        let by = &actor.operator.username;
        let after = lifecycle
            .acknowledge(now, by)
            .map_err(|refusal| match refusal {
                AckRefusal::NotActive => AppError::NotActive,
                AckRefusal::OwnActivation => AppError::OwnWindow,
                AckRefusal::AlreadyAcknowledged => {
                    AppError::Conflict("This window is already acknowledged".into())
                }
            })?;
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) = store::acknowledge(&mut tx, &before, now, by, note.as_str()).await? else {
            drop(tx);
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::Conflict(
                "The window changed meanwhile (acknowledged or ended elsewhere); look again".into(),
            ));
        };
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::ACKNOWLEDGE,
            serde_json::json!({
                "window_id": id,
                "note": note.as_str(),
                "activated_by": before.activated_by,
                "late": now > before.acknowledgement.due_at,
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        outbox::enqueue(
            &mut tx,
            &Notice {
                topic: Topic::Acknowledged,
                at: now,
                severity: Severity::Info,
                title: drill_marked(before.drill, &format!("Break-Glass Acknowledged by {by}")),
                message: format!(
                    "{by} acknowledged the break-glass window {} opened at {}{}. Note: {}",
                    before.activated_by,
                    time_format::utc(before.activated_at),
                    if now > before.acknowledgement.due_at {
                        " (late)"
                    } else {
                        ""
                    },
                    note.as_str()
                ),
                window_id: Some(id),
                link: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.announce(&mut lifecycle, id, after, StateChange::Acknowledged, None))
    }

    pub async fn deactivate(&self, actor: &Actor) -> Result<DeactivationSummary, AppError> {
        actor.require(Permission::BreakGlassDeactivate)?;
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await?;
        let ended = lifecycle.deactivate(now).map_err(|_| AppError::NotActive)?;
        let Some(unscanned) = self
            .record_end(
                &ended,
                &actor.operator.username,
                actor.source_addr.as_deref(),
            )
            .await?
        else {
            // Another writer closed it first: take the stored truth.
            self.adopt_stored(&mut lifecycle, now).await?;
            return Err(AppError::NotActive);
        };
        self.commit_state(&mut lifecycle, Lifecycle::after(&ended));
        self.publish_change(Some(StateChange::Deactivated));
        Ok(DeactivationSummary {
            duration_actual_minutes: active_minutes(ended.window.activated_at, ended.ended_at),
            unscanned_traffic: unscanned,
            ended_at: ended.ended_at,
        })
    }

    /// Now, at the store's resolution (milliseconds), so that the state in memory and the
    /// state read back after a restart are the same.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(3)
    }

    /// Applies what the passage of time implies (expiry, end of cool-down).
    pub async fn advance(&self) -> Result<(), sqlx::Error> {
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.advance_locked(&mut lifecycle, now).await
    }

    /// Ends windows at `expires_at` as the clock reaches it, until `shutdown` fires.
    pub async fn run_expiry_timer(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changed = self.current.subscribe();
        loop {
            let deadline = changed.borrow_and_update().next_deadline();
            let wake = async {
                match deadline {
                    Some(d) => self.clock.sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = wake => {
                    if let Err(e) = self.advance().await {
                        tracing::error!(error = %e, "break-glass expiry could not be recorded; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
                r = changed.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn advance_locked(
        &self,
        lifecycle: &mut Lifecycle,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let (next, changes) = lifecycle.tick(now);
        if changes.is_empty() {
            return Ok(());
        }
        let mut published = Vec::new();
        for change in &changes {
            let (recorded, heard) = match change {
                Change::Expired(ended) => (
                    self.record_end(ended, audit::SYSTEM, None).await?.is_some(),
                    StateChange::Expired,
                ),
                Change::AckOverdue(window) => {
                    (self.record_overdue(window).await?, StateChange::AckOverdue)
                }
                Change::CoolDownOver => (true, StateChange::CoolDownOver),
                Change::RequestLapsed(request) => (
                    self.record_lapse(request).await?,
                    StateChange::RequestLapsed,
                ),
                // The ask as it stood before this tick took it off.
                Change::ExtensionLapsed(_) => match &*lifecycle {
                    Lifecycle::Active(before) => match &before.extension_request {
                        Some(ask) => (
                            self.record_extension_lapse(before, ask).await?,
                            StateChange::RequestLapsed,
                        ),
                        None => (true, StateChange::RequestLapsed),
                    },
                    _ => (true, StateChange::RequestLapsed),
                },
            };
            if !recorded {
                // Another writer recorded it first: a replica whose timer fired too (then the
                // store agrees with this tick), or a decision, acknowledgement or end not
                // heard of yet.
                let stored = stored_state(&self.pool, self.ack_within()).await?;
                if stored.tick(now).0 != next {
                    self.adopt(lifecycle, stored, now);
                    return Ok(());
                }
            }
            published.push(heard);
        }
        self.commit_state(lifecycle, next);
        for change in published {
            self.publish_change(Some(change));
        }
        Ok(())
    }

    /// Catches up with changes made by other replicas: reads the stored state and, if it
    /// differs from this replica's, takes it and tells the tabs. Called when a notification
    /// arrives and after a reconnection, whatever was missed in between.
    pub async fn resync(&self) -> Result<(), sqlx::Error> {
        let mut lifecycle = self.lifecycle.lock().await;
        let now = self.now();
        self.last_drill
            .send_replace(store::last_drill(&self.pool).await?);
        self.adopt_stored(&mut lifecycle, now).await
    }

    async fn adopt_stored(
        &self,
        lifecycle: &mut Lifecycle,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let stored = stored_state(&self.pool, self.ack_within()).await?;
        self.adopt(lifecycle, stored, now);
        Ok(())
    }

    /// Takes `stored` as this replica's state unless, as of `now`, it already agrees.
    fn adopt(&self, lifecycle: &mut Lifecycle, stored: Lifecycle, now: DateTime<Utc>) {
        let (mine, _) = lifecycle.tick(now);
        let (stored_now, due) = stored.tick(now);
        // What time has done to the stored state but nobody has recorded yet (an expiry, an
        // escalation, a lapse) stays due, for the timer to record; even when this replica's
        // own state already shows its outcome, or the store would keep it (a request nobody
        // marked lapsed blocks every new one).
        let unrecorded = due.iter().any(|c| !matches!(c, Change::CoolDownOver));
        if stored_now == mine && !unrecorded {
            return;
        }
        let changed = stored_now != mine;
        let change = adopted_change(&mine, &stored_now);
        self.commit_state(lifecycle, if unrecorded { stored } else { stored_now });
        if changed {
            self.publish_change(change);
        }
    }

    /// Escalates a window nobody acknowledged in time: marks it overdue with a CRITICAL alert
    /// and an audit record, in one transaction, once across replicas. False when the store
    /// no longer has it pending (escalated elsewhere, acknowledged, or ended).
    async fn record_overdue(&self, window: &Window) -> Result<bool, sqlx::Error> {
        let mut tx = database::begin(&self.pool).await?;
        let Some(id) = store::mark_overdue(&mut tx, window).await? else {
            return Ok(false);
        };
        let alert = alerts::insert(
            &mut tx,
            NewAlert {
                at: window.acknowledgement.due_at,
                severity: Severity::Critical,
                source: ALERT_SOURCE,
                title: drill_marked(window.drill, "Break-Glass Not Acknowledged"),
                message: format!(
                    "Nobody has acknowledged the break-glass window {} opened at {} (due {}). \
                     Someone with break_glass:acknowledge other than {} must look at it now.",
                    window.activated_by,
                    time_format::utc(window.activated_at),
                    time_format::utc(window.acknowledgement.due_at),
                    window.activated_by,
                ),
                window_id: Some(id),
                link: None,
                topic: Some(Topic::AckOverdue),
            },
        )
        .await?;
        audit_trail::record(
            &mut tx,
            window.acknowledgement.due_at,
            audit::SYSTEM,
            audit::ACK_OVERDUE,
            serde_json::json!({ "window_id": id, "due_at": window.acknowledgement.due_at }),
            None,
        )
        .await?;
        tx.commit().await?;
        self.events.publish(&ServerEvent::Alert(alert));
        Ok(true)
    }

    /// Closes the window in storage with its alert and audit record, in one transaction.
    /// Returns the unscanned count, or `None` if the window had already been closed.
    async fn record_end(
        &self,
        ended: &Ended,
        ended_by: &str,
        source_addr: Option<&str>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = database::begin(&self.pool).await?;
        let Some((unscanned, alert)) = self
            .write_end(&mut tx, ended, ended_by, source_addr)
            .await?
        else {
            return Ok(None);
        };
        tx.commit().await?;
        self.events.publish(&ServerEvent::Alert(alert));
        Ok(Some(unscanned))
    }

    /// Writes a window's end, its alert, notifications and audit record in the caller's
    /// transaction: the unscanned count and the alert to publish after the commit, or `None`
    /// if the window had already been closed.
    async fn write_end(
        &self,
        tx: &mut crate::server::database::Conn,
        ended: &Ended,
        ended_by: &str,
        source_addr: Option<&str>,
    ) -> Result<Option<(i64, Alert)>, sqlx::Error> {
        // A drill bypassed nothing, whatever else was recorded meanwhile.
        let unscanned = if ended.window.drill {
            0
        } else {
            traffic::count_bypassed(&mut *tx, ended.window.activated_at, ended.ended_at).await?
        };
        let Some(id) = store::close(&mut *tx, ended, ended_by, unscanned).await? else {
            return Ok(None);
        };
        let drill = ended.window.drill;
        let minutes = active_minutes(ended.window.activated_at, ended.ended_at);
        let (title, action, how) = match ended.kind {
            EndKind::Expired => ("Break-Glass Expired", audit::EXPIRE, "expired".to_owned()),
            EndKind::Deactivated => (
                "Break-Glass Deactivated",
                audit::DEACTIVATE,
                format!("was deactivated by {ended_by}"),
            ),
        };
        let alert = alerts::insert(
            &mut *tx,
            NewAlert {
                at: ended.ended_at,
                severity: Severity::High,
                source: ALERT_SOURCE,
                title: drill_marked(drill, title),
                message: if drill {
                    format!(
                        "The break-glass drill {how} after {minutes} minutes ({} to {}); \
                         nothing was bypassed. Its review waits.",
                        time_format::utc(ended.window.activated_at),
                        time_format::utc(ended.ended_at),
                    )
                } else {
                    format!(
                        "Break-glass {how} after {minutes} minutes active ({} to {}, {}); \
                         {unscanned} requests passed unscanned and need review.",
                        time_format::utc(ended.window.activated_at),
                        time_format::utc(ended.ended_at),
                        ended.window.scope.describe(),
                    )
                },
                window_id: Some(id),
                link: Some(crate::domain::break_glass::review_path(id)),
                topic: Some(match ended.kind {
                    EndKind::Expired => Topic::Expiry,
                    EndKind::Deactivated => Topic::Deactivation,
                }),
            },
        )
        .await?;
        outbox::enqueue(
            &mut *tx,
            &Notice {
                topic: Topic::ReviewWaiting,
                at: ended.ended_at,
                severity: Severity::Medium,
                title: drill_marked(drill, &format!("Break-Glass Review Waiting — window #{id}")),
                message: format!(
                    "The break-glass {} {} opened at {} ended at {} with {unscanned} unscanned \
                     requests. Someone with break_glass:review other than {} must review and \
                     sign it off.",
                    if drill { "drill" } else { "window" },
                    ended.window.activated_by,
                    time_format::utc(ended.window.activated_at),
                    time_format::utc(ended.ended_at),
                    ended.window.activated_by,
                ),
                window_id: Some(id),
                link: Some(crate::domain::break_glass::review_path(id)),
            },
        )
        .await?;
        audit_trail::record(
            &mut *tx,
            ended.ended_at,
            ended_by,
            action,
            serde_json::json!({
                "window_id": id,
                "active_minutes": minutes,
                "unscanned_traffic": unscanned,
                "activated_by": ended.window.activated_by,
                "scope_text": ended.window.scope.describe(),
                "drill": drill,
            }),
            source_addr,
        )
        .await?;
        Ok(Some((unscanned, alert)))
    }

    /// Refuses (and audits) an activation by a role that may not activate, before its input
    /// is even parsed: every attempt is recorded, well-formed or not.
    async fn refuse_unpermitted(&self, actor: &Actor, raw_reason: &str) -> Result<(), AppError> {
        let Err(e) = actor.require(Permission::BreakGlassActivate) else {
            return Ok(());
        };
        self.record_denied(
            actor,
            serde_json::json!({
                "why": e.code(),
                "reason": raw_reason.chars().take(500).collect::<String>(),
            }),
        )
        .await?;
        Err(e)
    }

    /// Audits a refused activation with what was asked for.
    async fn record_denied(
        &self,
        actor: &Actor,
        details: serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        audit_trail::record(
            &mut conn,
            self.now(),
            &actor.operator.username,
            audit::ACTIVATE_DENIED,
            details,
            actor.source_addr.as_deref(),
        )
        .await
    }

    fn denial(activation: &Activation, error: &AppError) -> serde_json::Value {
        serde_json::json!({
            "why": error.code(),
            "reason": activation.reason.as_str(),
            "duration_minutes": activation.duration.minutes(),
        })
    }

    /// After the database refused what the in-memory state allowed (another replica or request
    /// got there first), take the stored truth, tell the tabs, and say why the activation was
    /// refused.
    async fn resync_after(
        &self,
        refused: InsertRefused,
        lifecycle: &mut Lifecycle,
        now: DateTime<Utc>,
    ) -> AppError {
        if let InsertRefused::Db(e) = refused {
            return e.into();
        }
        if let Err(e) = self.adopt_stored(lifecycle, now).await {
            return e.into();
        }
        let refusal = match &*lifecycle {
            Lifecycle::Active(w) => Refusal::AlreadyActive {
                expires_at: w.expires_at,
            },
            Lifecycle::CoolingDown { until } => Refusal::CoolingDown { until: *until },
            Lifecycle::Requested(r) => Refusal::Requested {
                decide_by: r.decide_by,
            },
            Lifecycle::Inactive => return AppError::Internal,
        };
        refusal_error(refusal, now)
    }

    /// After a committed transition to the open window `window` (id `id`): takes it as the
    /// state, tells every tab what changed, then its alert.
    fn announce(
        &self,
        lifecycle: &mut Lifecycle,
        id: i64,
        window: Window,
        change: StateChange,
        alert: Option<Alert>,
    ) -> ActivatedWindow {
        let answer = ActivatedWindow::new(id, &window);
        self.commit_state(lifecycle, Lifecycle::Active(window));
        self.publish_change(Some(change));
        if let Some(alert) = alert {
            self.events.publish(&ServerEvent::Alert(alert));
        }
        answer
    }

    fn commit_state(&self, lifecycle: &mut Lifecycle, next: Lifecycle) {
        *lifecycle = next.clone();
        self.current.send_replace(next);
    }

    /// Publishes the committed state. `server_time` is read now, at publication, not at the
    /// transition: tabs derive their clock offset from it, and the commit took time.
    fn publish_change(&self, change: Option<StateChange>) {
        let status = self.current_status();
        self.events
            .publish(&ServerEvent::State(StateEvent { change, status }));
    }
}

/// The settings that hold the policy: the acknowledgement deadline (minutes), the mode, and
/// the approval deadline (minutes).
pub const POLICY_SETTING: &str = "break_glass_ack_minutes";
pub const MODE_SETTING: &str = "break_glass_mode";
pub const APPROVAL_SETTING: &str = "break_glass_approval_minutes";
pub const REVIEW_GATE_SETTING: &str = "break_glass_review_gate";
pub const DRILL_SETTING: &str = "break_glass_drill_days";

/// The stored policy; what an admin never set keeps its default (`default_ack`, emergency, 15
/// minutes to decide). A stored value that is not valid is an error, not a silent default.
async fn stored_policy(pool: &Pool, default_ack: AckMinutes) -> Result<Policy, sqlx::Error> {
    let bad = |name: &str, v: &str| {
        sqlx::Error::Decode(format!("the stored setting {name} is not valid: {v:?}").into())
    };
    let minutes = |name: &'static str, v: String| {
        v.parse::<i64>()
            .ok()
            .and_then(|m| AckMinutes::parse(m).ok())
            .ok_or_else(|| bad(name, &v))
    };
    let mut policy = Policy::emergency(default_ack);
    if let Some(v) = settings::get(pool, POLICY_SETTING).await? {
        policy.ack_minutes = minutes(POLICY_SETTING, v)?;
    }
    if let Some(v) = settings::get(pool, MODE_SETTING).await? {
        policy.mode = Mode::parse(&v).ok_or_else(|| bad(MODE_SETTING, &v))?;
    }
    if let Some(v) = settings::get(pool, APPROVAL_SETTING).await? {
        policy.approval_minutes = minutes(APPROVAL_SETTING, v)?;
    }
    if let Some(v) = settings::get(pool, REVIEW_GATE_SETTING).await? {
        policy.review_gate = match v.as_str() {
            "on" => true,
            "off" => false,
            _ => return Err(bad(REVIEW_GATE_SETTING, &v)),
        };
    }
    if let Some(v) = settings::get(pool, DRILL_SETTING).await? {
        policy.drill_days = v
            .parse::<i64>()
            .ok()
            .and_then(|d| DrillDays::parse(d).ok())
            .ok_or_else(|| bad(DRILL_SETTING, &v))?;
    }
    Ok(policy)
}

/// What tabs are told when the stored state replaces `before`, both ticked to now: the change
/// that leads from one to the other, or `None` when several happened unheard and only the
/// new status can be shown.
fn adopted_change(before: &Lifecycle, after: &Lifecycle) -> Option<StateChange> {
    match (before, after) {
        (Lifecycle::Active(was), Lifecycle::Active(now)) if was == now => None,
        (Lifecycle::Active(was), Lifecycle::Active(now))
            if was.activated_at == now.activated_at
                && was.extension_request != now.extension_request =>
        {
            match (&was.extension_request, &now.extension_request) {
                (_, Some(_)) => Some(StateChange::ExtensionRequested),
                (Some(_), None) if now.expires_at > was.expires_at => Some(StateChange::Extended),
                (Some(_), None) => Some(StateChange::Denied),
                (None, None) => None,
            }
        }
        (Lifecycle::Active(was), Lifecycle::Active(now))
            if was.activated_at == now.activated_at =>
        {
            match (&was.acknowledgement.state, &now.acknowledgement.state) {
                (AckState::Acknowledged { .. }, _) | (_, AckState::Pending) => {
                    Some(StateChange::Extended)
                }
                (_, AckState::Acknowledged { .. }) => Some(StateChange::Acknowledged),
                (AckState::Pending, AckState::Overdue) => Some(StateChange::AckOverdue),
                (AckState::Overdue, AckState::Overdue) => Some(StateChange::Extended),
            }
        }
        (Lifecycle::Requested(_), Lifecycle::Active(_)) => Some(StateChange::Approved),
        (_, Lifecycle::Active(_)) => Some(StateChange::Activated),
        (_, Lifecycle::Requested(_)) => Some(StateChange::Requested),
        // Both are ticked to now: a request still waiting here but gone from the store was
        // decided there (a lapse would have ended both).
        (Lifecycle::Requested(_), Lifecycle::Inactive) => Some(StateChange::Denied),
        (Lifecycle::Active(window), Lifecycle::CoolingDown { until }) => {
            if *until - COOL_DOWN >= window.expires_at {
                Some(StateChange::Expired)
            } else {
                Some(StateChange::Deactivated)
            }
        }
        (Lifecycle::CoolingDown { .. }, Lifecycle::Inactive) => Some(StateChange::CoolDownOver),
        _ => None,
    }
}

fn refusal_error(refusal: Refusal, now: DateTime<Utc>) -> AppError {
    match refusal {
        Refusal::AlreadyActive { expires_at } => AppError::AlreadyActive { expires_at },
        Refusal::CoolingDown { until } => AppError::CoolingDown {
            until,
            retry_after_seconds: seconds_until(now, until),
        },
        Refusal::Requested { decide_by } => AppError::Conflict(format!(
            "A break-glass request waits for approval until {}: it is approved, denied or \
             lapses first",
            time_format::utc(decide_by)
        )),
    }
}

fn extend_error(refusal: ExtendRefusal) -> AppError {
    match refusal {
        ExtendRefusal::NotActive => AppError::NotActive,
        ExtendRefusal::AlreadyAsked => {
            AppError::Conflict("An extension of this window already waits for approval".into())
        }
        ExtendRefusal::BeyondLimit { max_minutes } => FieldError::new(
            Field::Minutes,
            match max_minutes {
                0 => "This window already lasts 4 hours from its activation: it cannot be \
                      extended"
                    .to_owned(),
                m => format!(
                    "A window lasts at most 4 hours from its activation: this one can be \
                     extended by at most {m} more minutes"
                ),
            },
        )
        .into(),
    }
}

/// What a request says of the review gate it overrides, if it does.
fn override_words(request: &Request) -> String {
    request
        .overrides_review_of
        .map(|id| format!(" It overrides the review gate: window #{id} has not been reviewed yet."))
        .unwrap_or_default()
}

fn no_request() -> AppError {
    AppError::Conflict("No break-glass request waits for a decision".into())
}

fn decide_error(refusal: DecideRefusal) -> AppError {
    match refusal {
        DecideRefusal::NoRequest => no_request(),
        DecideRefusal::OwnRequest => AppError::OwnWindow,
    }
}

/// The lifecycle as stored: the open window, else the waiting request, else the cool-down
/// after the last end (`store::load`).
async fn stored_state(pool: &Pool, ack_within: TimeDelta) -> Result<Lifecycle, sqlx::Error> {
    let stored = store::load(pool, ack_within).await?;
    if matches!(stored, Lifecycle::Active(_)) {
        return Ok(stored);
    }
    Ok(requests::pending(pool)
        .await?
        .map_or(stored, Lifecycle::Requested))
}

/// The newest windows with their end (if they ended), who approved and acknowledged them and
/// how often they were extended, for the Traffic Monitor's quick picks.
pub async fn recent_windows(
    pool: &Pool,
    actor: &Actor,
    limit: u32,
) -> Result<Vec<WindowPick>, AppError> {
    actor.require(Permission::TrafficRead)?;
    let mut picks = store::recent(pool, limit).await?;
    // The newest approved windows include every approved one among the newest windows.
    let approvers = requests::approvers(pool, limit).await?;
    for pick in &mut picks {
        pick.approved_by = approvers.get(&pick.window.id).cloned();
    }
    Ok(picks)
}

/// What the acknowledgers are told when a window opens: who, why, and by when to answer.
/// " (only …)" after a title when the window bypasses less than everything.
fn scope_note(scope: &BypassScope) -> String {
    if scope.is_everything() {
        String::new()
    } else {
        format!(" ({})", scope.describe())
    }
}

/// A title marked as a drill's when it is one.
fn drill_marked(drill: bool, title: &str) -> String {
    if drill {
        format!("[DRILL] {title}")
    } else {
        title.to_owned()
    }
}

fn ack_due_notice(id: i64, window: &Window) -> Notice {
    Notice {
        topic: Topic::AckDue,
        at: window.activated_at,
        severity: Severity::High,
        title: drill_marked(
            window.drill,
            &format!(
                "Break-Glass Acknowledgement Due by {}",
                time_format::utc(window.acknowledgement.due_at)
            ),
        ),
        message: format!(
            "{} activated break-glass until {}. Reason: {}. Someone with \
             break_glass:acknowledge other than {} must acknowledge it by {}.",
            window.activated_by,
            time_format::utc(window.expires_at),
            window.reason.as_str(),
            window.activated_by,
            time_format::utc(window.acknowledgement.due_at),
        ),
        window_id: Some(id),
        link: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::break_glass::machine::{Acknowledgement, Window};
    use crate::domain::break_glass::{BypassDuration, Reason};

    fn window(at: DateTime<Utc>) -> Window {
        Window {
            activated_at: at,
            expires_at: at + chrono::TimeDelta::minutes(30),
            duration: BypassDuration::parse(30).unwrap(),
            reason: Reason::parse("LiteLLM is down for everyone").unwrap(),
            activated_by: "admin".into(),
            acknowledgement: Acknowledgement {
                due_at: at + chrono::TimeDelta::minutes(15),
                state: AckState::Pending,
            },
            extension_request: None,
            scope: BypassScope::default(),
            drill: false,
        }
    }

    #[test]
    fn a_state_read_from_the_store_is_announced_as_the_change_that_leads_to_it() {
        let t0 = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let w = window(t0);
        let active = Lifecycle::Active(w.clone());
        let expired = Lifecycle::after_end(w.expires_at);
        let deactivated = Lifecycle::after_end(t0 + chrono::TimeDelta::minutes(5));
        let cases = [
            (
                Lifecycle::Inactive,
                active.clone(),
                Some(StateChange::Activated),
            ),
            (
                deactivated.clone(),
                active.clone(),
                Some(StateChange::Activated),
            ),
            (
                Lifecycle::Active(window(t0 - chrono::TimeDelta::hours(2))),
                active.clone(),
                Some(StateChange::Activated),
            ),
            (active.clone(), expired.clone(), Some(StateChange::Expired)),
            (
                active.clone(),
                deactivated.clone(),
                Some(StateChange::Deactivated),
            ),
            (
                expired.clone(),
                Lifecycle::Inactive,
                Some(StateChange::CoolDownOver),
            ),
            (active.clone(), active.clone(), None),
            (
                active.clone(),
                Lifecycle::Active(
                    active
                        .acknowledge(t0 + chrono::TimeDelta::minutes(1), "second")
                        .unwrap(),
                ),
                Some(StateChange::Acknowledged),
            ),
            (
                active.clone(),
                active.tick(w.acknowledgement.due_at).0,
                Some(StateChange::AckOverdue),
            ),
            (
                active.clone(),
                Lifecycle::Active(
                    Lifecycle::Active(w.clone())
                        .extend(
                            t0,
                            crate::domain::break_glass::ExtensionMinutes::parse(15).unwrap(),
                        )
                        .unwrap(),
                ),
                Some(StateChange::Extended),
            ),
            // A whole window came and went unheard: only the status can be shown.
            (Lifecycle::Inactive, deactivated, None),
            (active, Lifecycle::Inactive, None),
        ];
        for (before, after, want) in cases {
            assert_eq!(
                adopted_change(&before, &after),
                want,
                "{before:?} -> {after:?}"
            );
        }
    }
}
