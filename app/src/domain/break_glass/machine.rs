//! The break-glass lifecycle as a pure state machine: Inactive -> Active -> CoolingDown ->
//! Inactive; under the approval-required policy Inactive -> Requested -> Active (approved) or
//! back to Inactive (denied, or undecided by its deadline).
//!
//! Nothing here reads a clock or touches I/O; every transition takes `now` as an argument, so
//! the service (which does the I/O) and the property tests drive the same code.

use super::input::{Activation, BypassDuration, ExtensionMinutes, Reason, DURATION_MAX_MINUTES};
use super::scope::BypassScope;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Enforced pause after a window ends, before the next activation is allowed.
pub const COOL_DOWN: TimeDelta = TimeDelta::minutes(15);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub activated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub duration: BypassDuration,
    pub reason: Reason,
    pub activated_by: String,
    pub acknowledgement: Acknowledgement,
    /// Under the approval policy: an extension waiting for a second operator's decision.
    pub extension_request: Option<ExtensionAsk>,
    /// What the window bypasses (everything by default).
    pub scope: BypassScope,
    /// A rehearsal: the whole procedure, with no bypass and no cool-down after it.
    pub drill: bool,
}

impl Window {
    /// This window, bypassing only `scope`.
    pub fn scoped(self, scope: BypassScope) -> Self {
        Self { scope, ..self }
    }

    /// Whether a request with this key and model goes past the shield: never in a drill.
    pub fn bypasses(&self, key_id: i64, model: &str) -> bool {
        !self.drill && self.scope.covers(key_id, model)
    }
}

/// An extension asked for under the approval policy: applied when a second operator approves
/// it by `decide_by` (and the window is still open); dropped when denied or undecided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionAsk {
    pub minutes: ExtensionMinutes,
    pub reason: Reason,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub decide_by: DateTime<Utc>,
}

/// A second operator's acknowledgement of a window: due by `due_at`; past it unacknowledged,
/// the window is overdue (escalated once), and it can still be acknowledged late.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub due_at: DateTime<Utc>,
    pub state: AckState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AckState {
    Pending,
    Overdue,
    Acknowledged { at: DateTime<Utc>, by: String },
}

impl Acknowledgement {
    pub fn is_acknowledged(&self) -> bool {
        matches!(self.state, AckState::Acknowledged { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndKind {
    Expired,
    Deactivated,
}

impl EndKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndKind::Expired => "expired",
            EndKind::Deactivated => "deactivated",
        }
    }

    /// The kind a stored `end_kind` names.
    pub fn parse(stored: &str) -> Option<Self> {
        [EndKind::Expired, EndKind::Deactivated]
            .into_iter()
            .find(|k| k.as_str() == stored)
    }
}

/// A window that has ended, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub window: Window,
    pub ended_at: DateTime<Utc>,
    pub kind: EndKind,
}

/// An activation waiting for a second operator's decision: approved by `decide_by`, the
/// window opens at the approval and lasts the requested duration; undecided by then, it
/// lapses and must be made again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub requested_at: DateTime<Utc>,
    pub decide_by: DateTime<Utc>,
    pub reason: Reason,
    pub duration: BypassDuration,
    pub requested_by: String,
    /// The earlier window still waiting for its review, when the policy's review gate made
    /// this a request: approving it overrides the gate.
    pub overrides_review_of: Option<i64>,
    /// What the window will bypass once approved.
    pub scope: BypassScope,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Lifecycle {
    #[default]
    Inactive,
    Requested(Request),
    Active(Window),
    CoolingDown {
        until: DateTime<Utc>,
    },
}

/// What happened when time moved on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The acknowledgement of the open window fell due unacknowledged.
    AckOverdue(Window),
    Expired(Ended),
    CoolDownOver,
    /// A request nobody decided by its deadline lapsed.
    RequestLapsed(Request),
    /// An extension nobody decided by its deadline lapsed (the window stays as it was).
    ExtensionLapsed(Window),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    AlreadyActive {
        expires_at: DateTime<Utc>,
    },
    CoolingDown {
        until: DateTime<Utc>,
    },
    /// A request waits for a decision; nothing else opens until it is decided or lapses.
    Requested {
        decide_by: DateTime<Utc>,
    },
}

/// Why a request could not be approved or denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecideRefusal {
    NoRequest,
    /// Nobody decides their own request.
    OwnRequest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotActive;

/// Why a window could not be acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckRefusal {
    NotActive,
    /// Nobody acknowledges their own activation.
    OwnActivation,
    AlreadyAcknowledged,
}

/// Why a window could not be extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtendRefusal {
    NotActive,
    /// The window would last more than 4 hours from its activation; `max_minutes` is what
    /// could still be added (possibly 0).
    BeyondLimit {
        max_minutes: u32,
    },
    /// An extension already waits for a decision.
    AlreadyAsked,
}

impl Lifecycle {
    /// The state after a real window ended at `ended_at`.
    pub fn after_end(ended_at: DateTime<Utc>) -> Self {
        Lifecycle::CoolingDown {
            until: ended_at + COOL_DOWN,
        }
    }

    /// The state after `ended`: a cool-down after a real window, nothing after a drill.
    pub fn after(ended: &Ended) -> Self {
        if ended.window.drill {
            Lifecycle::Inactive
        } else {
            Lifecycle::after_end(ended.ended_at)
        }
    }

    /// The drill a real activation or request at `now` ends at once, if one is open.
    pub fn superseded_drill(&self, now: DateTime<Utc>) -> Option<Ended> {
        match self {
            Lifecycle::Active(w) if w.drill && now < w.expires_at => Some(Ended {
                window: w.clone(),
                ended_at: now,
                kind: EndKind::Deactivated,
            }),
            _ => None,
        }
    }

    /// Starts a drill at `now`: a window marked as a rehearsal, acknowledged, extended and
    /// ended like a real one, but bypassing nothing. Only when nothing is open, requested or
    /// cooling down.
    pub fn drill(
        &self,
        now: DateTime<Utc>,
        activation: &Activation,
        actor: &str,
        ack_within: TimeDelta,
    ) -> Result<Window, Refusal> {
        if let Lifecycle::Active(w) = self {
            return Err(Refusal::AlreadyActive {
                expires_at: w.expires_at,
            });
        }
        let window = self.activate(now, activation, actor, ack_within)?;
        Ok(Window {
            drill: true,
            ..window
        })
    }

    /// Brings the state up to `now`: a window past its `expires_at` ends exactly then, and a
    /// cool-down past its end is over. Returns the new state and what changed, in order.
    pub fn tick(&self, now: DateTime<Utc>) -> (Lifecycle, Vec<Change>) {
        let mut state = self.clone();
        let mut changes = Vec::new();
        loop {
            match &state {
                Lifecycle::Active(w)
                    if w.extension_request
                        .as_ref()
                        .is_some_and(|x| now >= x.decide_by && x.decide_by < w.expires_at) =>
                {
                    let mut lapsed = w.clone();
                    lapsed.extension_request = None;
                    changes.push(Change::ExtensionLapsed(lapsed.clone()));
                    state = Lifecycle::Active(lapsed);
                }
                Lifecycle::Active(w)
                    if w.acknowledgement.state == AckState::Pending
                        && now >= w.acknowledgement.due_at
                        && w.acknowledgement.due_at < w.expires_at =>
                {
                    let mut overdue = w.clone();
                    overdue.acknowledgement.state = AckState::Overdue;
                    changes.push(Change::AckOverdue(overdue.clone()));
                    state = Lifecycle::Active(overdue);
                }
                Lifecycle::Active(w) if now >= w.expires_at => {
                    let ended = Ended {
                        window: w.clone(),
                        ended_at: w.expires_at,
                        kind: EndKind::Expired,
                    };
                    state = Lifecycle::after(&ended);
                    changes.push(Change::Expired(ended));
                }
                Lifecycle::CoolingDown { until } if now >= *until => {
                    state = Lifecycle::Inactive;
                    changes.push(Change::CoolDownOver);
                }
                Lifecycle::Requested(r) if now >= r.decide_by => {
                    changes.push(Change::RequestLapsed(r.clone()));
                    state = Lifecycle::Inactive;
                }
                _ => return (state, changes),
            }
        }
    }

    /// Opens a window at `now`, to be acknowledged within `ack_within`, bypassing everything
    /// until the caller narrows it (`Window::scoped`). The caller ticks first, so an expired
    /// window or a finished cool-down never blocks an activation, and ends an open drill
    /// (`superseded_drill`): a drill never blocks a real activation.
    pub fn activate(
        &self,
        now: DateTime<Utc>,
        activation: &Activation,
        actor: &str,
        ack_within: TimeDelta,
    ) -> Result<Window, Refusal> {
        self.may_open()?;
        Ok(Window {
            activated_at: now,
            expires_at: now + activation.duration.as_delta(),
            duration: activation.duration,
            reason: activation.reason.clone(),
            activated_by: actor.to_owned(),
            acknowledgement: Acknowledgement {
                due_at: now + ack_within,
                state: AckState::Pending,
            },
            extension_request: None,
            scope: BypassScope::default(),
            drill: false,
        })
    }

    /// Nothing is open (but a drill), requested or cooling down.
    fn may_open(&self) -> Result<(), Refusal> {
        match self {
            Lifecycle::Inactive => Ok(()),
            Lifecycle::Active(w) if w.drill => Ok(()),
            Lifecycle::Active(w) => Err(Refusal::AlreadyActive {
                expires_at: w.expires_at,
            }),
            Lifecycle::CoolingDown { until } => Err(Refusal::CoolingDown { until: *until }),
            Lifecycle::Requested(r) => Err(Refusal::Requested {
                decide_by: r.decide_by,
            }),
        }
    }

    /// Asks at `now` for a window that a second operator must approve within `decide_within`.
    pub fn request(
        &self,
        now: DateTime<Utc>,
        activation: &Activation,
        actor: &str,
        decide_within: TimeDelta,
        overrides_review_of: Option<i64>,
    ) -> Result<Request, Refusal> {
        self.may_open()?;
        Ok(Request {
            requested_at: now,
            decide_by: now + decide_within,
            reason: activation.reason.clone(),
            duration: activation.duration,
            requested_by: actor.to_owned(),
            overrides_review_of,
            scope: BypassScope::default(),
        })
    }

    /// `by` approves the waiting request at `now`: the window opens now for the requested
    /// duration, in the requester's name, acknowledged by the approver (the second person has
    /// answered for it). Never the requester.
    pub fn approve(&self, now: DateTime<Utc>, by: &str) -> Result<Window, DecideRefusal> {
        let request = self.waiting(now, by)?;
        Ok(Window {
            activated_at: now,
            expires_at: now + request.duration.as_delta(),
            duration: request.duration,
            reason: request.reason.clone(),
            activated_by: request.requested_by.clone(),
            acknowledgement: Acknowledgement {
                due_at: now,
                state: AckState::Acknowledged {
                    at: now,
                    by: by.to_owned(),
                },
            },
            extension_request: None,
            scope: request.scope.clone(),
            drill: false,
        })
    }

    /// `by` denies the waiting request at `now` (then nothing is open, and no cool-down runs).
    pub fn deny(&self, now: DateTime<Utc>, by: &str) -> Result<Request, DecideRefusal> {
        self.waiting(now, by).cloned()
    }

    fn waiting(&self, now: DateTime<Utc>, by: &str) -> Result<&Request, DecideRefusal> {
        match self {
            Lifecycle::Requested(r) if now < r.decide_by => {
                if r.requested_by == by {
                    Err(DecideRefusal::OwnRequest)
                } else {
                    Ok(r)
                }
            }
            _ => Err(DecideRefusal::NoRequest),
        }
    }

    /// Ends the active window at `now` (an operator's "Deactivate Now").
    pub fn deactivate(&self, now: DateTime<Utc>) -> Result<Ended, NotActive> {
        match self {
            Lifecycle::Active(w) if now < w.expires_at => Ok(Ended {
                window: w.clone(),
                ended_at: now,
                kind: EndKind::Deactivated,
            }),
            _ => Err(NotActive),
        }
    }

    /// Moves the active window's end `minutes` later. The whole window never lasts more than
    /// 4 hours from its activation: `expires_at` stays `activated_at + duration`.
    pub fn extend(
        &self,
        now: DateTime<Utc>,
        minutes: ExtensionMinutes,
    ) -> Result<Window, ExtendRefusal> {
        match self {
            Lifecycle::Active(w) if now < w.expires_at => {
                let total = w.duration.minutes() + minutes.minutes();
                let duration = BypassDuration::parse(i64::from(total)).map_err(|_| {
                    ExtendRefusal::BeyondLimit {
                        max_minutes: DURATION_MAX_MINUTES.saturating_sub(w.duration.minutes()),
                    }
                })?;
                Ok(Window {
                    expires_at: w.activated_at + duration.as_delta(),
                    duration,
                    ..w.clone()
                })
            }
            _ => Err(ExtendRefusal::NotActive),
        }
    }

    /// Under the approval policy: asks at `now` to extend the open window by `minutes`,
    /// judged against the 4-hour limit now and again at the approval.
    pub fn ask_extension(
        &self,
        now: DateTime<Utc>,
        minutes: ExtensionMinutes,
        reason: &Reason,
        by: &str,
        decide_within: TimeDelta,
    ) -> Result<Window, ExtendRefusal> {
        self.extend(now, minutes)?;
        let Lifecycle::Active(w) = self else {
            return Err(ExtendRefusal::NotActive);
        };
        if w.extension_request.is_some() {
            return Err(ExtendRefusal::AlreadyAsked);
        }
        Ok(Window {
            extension_request: Some(ExtensionAsk {
                minutes,
                reason: reason.clone(),
                requested_by: by.to_owned(),
                requested_at: now,
                decide_by: now + decide_within,
            }),
            ..w.clone()
        })
    }

    /// `by` approves the waiting extension: the window's end moves. Never its requester.
    pub fn approve_extension(&self, now: DateTime<Utc>, by: &str) -> Result<Window, DecideRefusal> {
        let ask = self.extension_waiting(now, by)?;
        let mut extended = self
            .extend(now, ask.minutes)
            .map_err(|_| DecideRefusal::NoRequest)?;
        extended.extension_request = None;
        Ok(extended)
    }

    /// `by` denies the waiting extension: the window stays as it was. Never its requester.
    pub fn deny_extension(&self, now: DateTime<Utc>, by: &str) -> Result<Window, DecideRefusal> {
        self.extension_waiting(now, by)?;
        let Lifecycle::Active(w) = self else {
            return Err(DecideRefusal::NoRequest);
        };
        Ok(Window {
            extension_request: None,
            ..w.clone()
        })
    }

    fn extension_waiting(
        &self,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<&ExtensionAsk, DecideRefusal> {
        match self {
            Lifecycle::Active(w) if now < w.expires_at => match &w.extension_request {
                Some(ask) if now < ask.decide_by => {
                    if ask.requested_by == by {
                        Err(DecideRefusal::OwnRequest)
                    } else {
                        Ok(ask)
                    }
                }
                _ => Err(DecideRefusal::NoRequest),
            },
            _ => Err(DecideRefusal::NoRequest),
        }
    }

    /// `by` acknowledges the active window at `now` (in time or late); never the activator.
    pub fn acknowledge(&self, now: DateTime<Utc>, by: &str) -> Result<Window, AckRefusal> {
        match self {
            Lifecycle::Active(w) if now < w.expires_at => {
                if w.acknowledgement.is_acknowledged() {
                    return Err(AckRefusal::AlreadyAcknowledged);
                }
                if w.activated_by == by {
                    return Err(AckRefusal::OwnActivation);
                }
                let mut acknowledged = w.clone();
                acknowledged.acknowledgement.state = AckState::Acknowledged {
                    at: now,
                    by: by.to_owned(),
                };
                Ok(acknowledged)
            }
            _ => Err(AckRefusal::NotActive),
        }
    }

    /// The next instant at which `tick` would change something.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        match self {
            Lifecycle::Inactive => None,
            Lifecycle::Active(w) => {
                let ack = match w.acknowledgement.state {
                    AckState::Pending if w.acknowledgement.due_at < w.expires_at => {
                        w.acknowledgement.due_at
                    }
                    _ => w.expires_at,
                };
                let ask = w
                    .extension_request
                    .as_ref()
                    .map_or(w.expires_at, |x| x.decide_by);
                Some(ack.min(ask).min(w.expires_at))
            }
            Lifecycle::CoolingDown { until } => Some(*until),
            Lifecycle::Requested(r) => Some(r.decide_by),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::break_glass::input::ActivationRequest;
    use proptest::prelude::*;

    fn activation(minutes: i64) -> Activation {
        Activation::try_from(ActivationRequest::from_form(
            "primary shield is down".into(),
            minutes.to_string(),
            "CONFIRM".into(),
        ))
        .unwrap()
    }

    const ACK: TimeDelta = TimeDelta::minutes(15);

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn an_end_kind_reads_back_what_it_stores_and_nothing_else() {
        for kind in [EndKind::Expired, EndKind::Deactivated] {
            assert_eq!(EndKind::parse(kind.as_str()), Some(kind));
        }
        for other in ["", "Expired", "deactivated ", "revoked"] {
            assert_eq!(EndKind::parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn full_cycle() {
        let now = t0();
        let w = Lifecycle::Inactive
            .activate(now, &activation(15), "alice", ACK)
            .unwrap();
        assert_eq!(w.expires_at, now + TimeDelta::minutes(15));
        let active = Lifecycle::Active(w.clone());
        assert_eq!(
            active.activate(now, &activation(30), "bob", ACK),
            Err(Refusal::AlreadyActive {
                expires_at: w.expires_at
            })
        );
        let (same, changes) = active.tick(w.expires_at - TimeDelta::milliseconds(1));
        assert_eq!((same, changes.len()), (active.clone(), 0));
        let (cooling, changes) = active.tick(w.expires_at);
        assert_eq!(
            cooling,
            Lifecycle::CoolingDown {
                until: w.expires_at + COOL_DOWN
            }
        );
        assert!(matches!(&changes[..], [Change::Expired(e)] if e.ended_at == w.expires_at));
        assert!(cooling
            .activate(w.expires_at, &activation(15), "a", ACK)
            .is_err());
        let (inactive, changes) = cooling.tick(w.expires_at + COOL_DOWN);
        assert_eq!(inactive, Lifecycle::Inactive);
        assert_eq!(changes, vec![Change::CoolDownOver]);
    }

    #[test]
    fn a_long_gap_expires_and_ends_the_cool_down_in_one_tick() {
        let w = Lifecycle::Inactive
            .activate(t0(), &activation(60), "alice", ACK)
            .unwrap();
        let (state, changes) = Lifecycle::Active(w).tick(t0() + TimeDelta::days(1));
        assert_eq!(state, Lifecycle::Inactive);
        // In the order they fell due: the acknowledgement nobody gave, the end, the cool-down.
        assert!(
            matches!(
                changes.as_slice(),
                [
                    Change::AckOverdue(_),
                    Change::Expired(_),
                    Change::CoolDownOver
                ]
            ),
            "{changes:?}"
        );
    }

    #[test]
    fn deactivation_ends_now_and_starts_the_cool_down() {
        let w = Lifecycle::Inactive
            .activate(t0(), &activation(60), "alice", ACK)
            .unwrap();
        let at = t0() + TimeDelta::minutes(7);
        let ended = Lifecycle::Active(w).deactivate(at).unwrap();
        assert_eq!(ended.ended_at, at);
        assert_eq!(ended.kind, EndKind::Deactivated);
        assert_eq!(Lifecycle::Inactive.deactivate(at), Err(NotActive));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Drill(i64),
        Activate(i64),
        Acknowledge { by_activator: bool },
        Extend(i64),
        Deactivate,
        Tick,
        Request(i64),
        Approve { by_requester: bool },
        Deny { by_requester: bool },
        AskExtension(i64),
        DecideExtension { approve: bool, by_requester: bool },
    }

    const DECIDE: TimeDelta = TimeDelta::minutes(30);

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (15i64..=240).prop_map(Op::Activate),
            (15i64..=240).prop_map(Op::Drill),
            (15i64..=240).prop_map(Op::Request),
            any::<bool>().prop_map(|by_requester| Op::Approve { by_requester }),
            any::<bool>().prop_map(|by_requester| Op::Deny { by_requester }),
            (1i64..=225).prop_map(Op::AskExtension),
            (any::<bool>(), any::<bool>()).prop_map(|(approve, by_requester)| {
                Op::DecideExtension {
                    approve,
                    by_requester,
                }
            }),
            (1i64..=225).prop_map(Op::Extend),
            any::<bool>().prop_map(|by_activator| Op::Acknowledge { by_activator }),
            Just(Op::Deactivate),
            Just(Op::Tick),
        ]
    }

    proptest! {
        /// Drives random operations at random, increasing times, checking the invariants at
        /// every step exactly as the service applies transitions (tick, then act).
        #[test]
        fn invariants_hold_over_random_sequences(
            steps in prop::collection::vec((op(), 0i64..20_000), 1..200)
        ) {
            let mut now = t0();
            let mut state = Lifecycle::Inactive;
            let mut last_end: Option<DateTime<Utc>> = None;
            let mut escalations = 0;
            for (op, advance_secs) in steps {
                now += TimeDelta::seconds(advance_secs);
                let (ticked, changes) = state.tick(now);
                for change in &changes {
                    if let Change::AckOverdue(w) = change {
                        // Escalated at most once, only past the due time, never once acknowledged.
                        escalations += 1;
                        prop_assert_eq!(escalations, 1);
                        prop_assert!(now >= w.acknowledgement.due_at);
                        prop_assert!(w.acknowledgement.due_at < w.expires_at);
                        prop_assert_eq!(&w.acknowledgement.state, &AckState::Overdue);
                    }
                    if let Change::ExtensionLapsed(w) = change {
                        prop_assert!(w.extension_request.is_none());
                    }
                    if let Change::RequestLapsed(r) = change {
                        // A request lapses exactly at its deadline, never before.
                        prop_assert!(now >= r.decide_by);
                        prop_assert_eq!(r.decide_by - r.requested_at, DECIDE);
                    }
                    if let Change::Expired(e) = change {
                        // A window never outlives its expires_at: it ends exactly then.
                        prop_assert_eq!(e.ended_at, e.window.expires_at);
                        prop_assert!(e.ended_at <= now);
                        // A drill starts no cool-down.
                        if !e.window.drill {
                            last_end = Some(e.ended_at);
                        }
                    }
                }
                state = ticked;
                let drill_open = matches!(&state, Lifecycle::Active(w) if w.drill);
                prop_assert_eq!(drill_open, state.superseded_drill(now).is_some());
                match op {
                    Op::Drill(m) => match state.drill(now, &activation(m), "op", ACK) {
                        Ok(w) => {
                            // Only from nothing; it bypasses nothing.
                            prop_assert_eq!(&state, &Lifecycle::Inactive);
                            prop_assert!(w.drill && !w.bypasses(1, "any"));
                            escalations = 0;
                            state = Lifecycle::Active(w);
                        }
                        Err(Refusal::AlreadyActive { .. }) => {
                            prop_assert!(matches!(state, Lifecycle::Active(_)));
                        }
                        Err(Refusal::CoolingDown { until }) => prop_assert!(now < until),
                        Err(Refusal::Requested { .. }) => {
                            prop_assert!(matches!(state, Lifecycle::Requested(_)));
                        }
                    },
                    Op::Activate(m) => match state.activate(now, &activation(m), "op", ACK) {
                        Ok(w) => {
                            // Never two active windows (a real activation ends a drill at
                            // once); no activation during cool-down.
                            prop_assert!(state == Lifecycle::Inactive || drill_open);
                            prop_assert!(!w.drill && w.bypasses(1, "any"));
                            if let Some(end) = last_end {
                                prop_assert!(now >= end + COOL_DOWN);
                            }
                            prop_assert_eq!(w.expires_at - w.activated_at, TimeDelta::minutes(m));
                            prop_assert_eq!(w.acknowledgement.due_at, now + ACK);
                            escalations = 0;
                            state = Lifecycle::Active(w);
                        }
                        Err(Refusal::AlreadyActive { .. }) => {
                            prop_assert!(matches!(state, Lifecycle::Active(_)) && !drill_open);
                        }
                        Err(Refusal::CoolingDown { until }) => {
                            prop_assert!(now < until);
                            // Cool-down is exactly 15 minutes after the end.
                            prop_assert_eq!(Some(until), last_end.map(|e| e + COOL_DOWN));
                        }
                        Err(Refusal::Requested { decide_by }) => {
                            prop_assert!(matches!(&state, Lifecycle::Requested(r) if r.decide_by == decide_by));
                            prop_assert!(now < decide_by);
                        }
                    },
                    Op::Request(m) => match state.request(now, &activation(m), "op", DECIDE, None) {
                        Ok(r) => {
                            // Only from nothing (or a drill, which it ends): never beside a
                            // window, a cool-down or another request.
                            prop_assert!(state == Lifecycle::Inactive || drill_open);
                            if let Some(end) = last_end {
                                prop_assert!(now >= end + COOL_DOWN);
                            }
                            prop_assert_eq!(r.decide_by, now + DECIDE);
                            state = Lifecycle::Requested(r);
                        }
                        Err(_) => prop_assert!(state != Lifecycle::Inactive),
                    },
                    Op::Approve { by_requester } => {
                        let by = if by_requester { "op" } else { "second" };
                        match (state.approve(now, by), &state) {
                            (Ok(w), Lifecycle::Requested(r)) => {
                                prop_assert!(!by_requester, "the requester approved");
                                prop_assert!(now < r.decide_by);
                                // Opens at the approval, for the duration asked, in the
                                // requester's name, answered for by the approver.
                                prop_assert_eq!(w.activated_at, now);
                                prop_assert_eq!(w.duration, r.duration);
                                prop_assert_eq!(&w.activated_by, &r.requested_by);
                                prop_assert_eq!(
                                    &w.acknowledgement.state,
                                    &AckState::Acknowledged { at: now, by: by.to_owned() }
                                );
                                escalations = 0;
                                state = Lifecycle::Active(w);
                            }
                            (Err(DecideRefusal::OwnRequest), Lifecycle::Requested(_)) => {
                                prop_assert!(by_requester);
                            }
                            (Err(DecideRefusal::NoRequest), s) => {
                                prop_assert!(!matches!(s, Lifecycle::Requested(_)));
                            }
                            (result, s) => prop_assert!(false, "{:?} from {:?}", result, s),
                        }
                    }
                    Op::AskExtension(m) => {
                        let minutes = ExtensionMinutes::parse(m).unwrap();
                        let reason = activation(15).reason;
                        match (state.ask_extension(now, minutes, &reason, "asker", DECIDE), &state) {
                            (Ok(w), Lifecycle::Active(before)) => {
                                // Nothing moves until it is approved.
                                prop_assert!(before.extension_request.is_none());
                                prop_assert_eq!(w.expires_at, before.expires_at);
                                prop_assert_eq!(
                                    w.extension_request.as_ref().map(|x| x.decide_by),
                                    Some(now + DECIDE)
                                );
                                state = Lifecycle::Active(w);
                            }
                            (Err(ExtendRefusal::AlreadyAsked), Lifecycle::Active(w)) => {
                                prop_assert!(w.extension_request.is_some());
                            }
                            (Err(ExtendRefusal::BeyondLimit { .. }), Lifecycle::Active(_)) => {}
                            (Err(ExtendRefusal::NotActive), s) => {
                                prop_assert!(!matches!(s, Lifecycle::Active(_)));
                            }
                            (result, s) => prop_assert!(false, "{:?} from {:?}", result, s),
                        }
                    }
                    Op::DecideExtension { approve, by_requester } => {
                        let by = if by_requester { "asker" } else { "second" };
                        let decided = if approve {
                            state.approve_extension(now, by)
                        } else {
                            state.deny_extension(now, by)
                        };
                        match (decided, &state) {
                            (Ok(w), Lifecycle::Active(before)) => {
                                let ask = before.extension_request.clone();
                                prop_assert!(!by_requester, "the asker decided");
                                prop_assert!(ask.is_some());
                                prop_assert!(w.extension_request.is_none());
                                let moved = w.expires_at - before.expires_at;
                                if approve {
                                    prop_assert_eq!(
                                        moved,
                                        TimeDelta::minutes(i64::from(ask.unwrap().minutes.minutes()))
                                    );
                                    prop_assert!(w.expires_at - w.activated_at <= TimeDelta::hours(4));
                                } else {
                                    prop_assert_eq!(moved, TimeDelta::zero());
                                }
                                state = Lifecycle::Active(w);
                            }
                            (Err(DecideRefusal::OwnRequest), Lifecycle::Active(w)) => {
                                prop_assert!(by_requester && w.extension_request.is_some());
                            }
                            (Err(DecideRefusal::NoRequest), _) => {}
                            (result, s) => prop_assert!(false, "{:?} from {:?}", result, s),
                        }
                    }
                    Op::Deny { by_requester } => {
                        let by = if by_requester { "op" } else { "second" };
                        match (state.deny(now, by), &state) {
                            (Ok(r), Lifecycle::Requested(waiting)) => {
                                prop_assert!(!by_requester);
                                prop_assert_eq!(&r, waiting);
                                // A denial starts no cool-down.
                                state = Lifecycle::Inactive;
                            }
                            (Err(DecideRefusal::OwnRequest), Lifecycle::Requested(_)) => {
                                prop_assert!(by_requester);
                            }
                            (Err(DecideRefusal::NoRequest), s) => {
                                prop_assert!(!matches!(s, Lifecycle::Requested(_)));
                            }
                            (result, s) => prop_assert!(false, "{:?} from {:?}", result, s),
                        }
                    }
                    Op::Deactivate => match state.deactivate(now) {
                        Ok(e) => {
                            prop_assert!(e.ended_at < e.window.expires_at);
                            if !e.window.drill {
                                last_end = Some(e.ended_at);
                            }
                            state = Lifecycle::after(&e);
                        }
                        Err(NotActive) => {
                            prop_assert!(!matches!(state, Lifecycle::Active(_)));
                        }
                    },
                    Op::Acknowledge { by_activator } => {
                        let by = if by_activator { "op" } else { "second" };
                        match (state.acknowledge(now, by), &state) {
                            (Ok(w), Lifecycle::Active(before)) => {
                                prop_assert!(!by_activator, "the activator acknowledged");
                                prop_assert!(!before.acknowledgement.is_acknowledged());
                                prop_assert_eq!(
                                    &w.acknowledgement.state,
                                    &AckState::Acknowledged { at: now, by: by.to_owned() }
                                );
                                state = Lifecycle::Active(w);
                            }
                            (Err(AckRefusal::OwnActivation), Lifecycle::Active(_)) => {
                                prop_assert!(by_activator);
                            }
                            (Err(AckRefusal::AlreadyAcknowledged), Lifecycle::Active(w)) => {
                                prop_assert!(w.acknowledgement.is_acknowledged());
                            }
                            (Err(AckRefusal::NotActive), s) => {
                                prop_assert!(!matches!(s, Lifecycle::Active(_)));
                            }
                            (result, s) => prop_assert!(false, "{:?} from {:?}", result, s),
                        }
                    }
                    Op::Extend(m) => {
                        let minutes = ExtensionMinutes::parse(m).unwrap();
                        match state.extend(now, minutes) {
                            Ok(w) => {
                                let Lifecycle::Active(before) = &state else {
                                    panic!("only an active window is extended");
                                };
                                // Later by exactly the minutes, never past 4 hours, the rest
                                // of the window unchanged.
                                prop_assert_eq!(w.expires_at - before.expires_at, TimeDelta::minutes(m));
                                prop_assert!(w.expires_at - w.activated_at <= TimeDelta::hours(4));
                                prop_assert_eq!(w.expires_at - w.activated_at, w.duration.as_delta());
                                prop_assert_eq!((w.activated_at, &w.reason), (before.activated_at, &before.reason));
                                state = Lifecycle::Active(w);
                            }
                            Err(ExtendRefusal::BeyondLimit { max_minutes }) => {
                                let Lifecycle::Active(w) = &state else {
                                    panic!("only an active window is judged against the limit");
                                };
                                prop_assert!(u32::try_from(m).unwrap() > max_minutes);
                                // What is left is exactly what fills the window to 4 hours.
                                prop_assert_eq!(
                                    w.duration.as_delta() + TimeDelta::minutes(i64::from(max_minutes)),
                                    TimeDelta::hours(4)
                                );
                            }
                            Err(ExtendRefusal::NotActive) => {
                                prop_assert!(!matches!(state, Lifecycle::Active(_)));
                            }
                            Err(ExtendRefusal::AlreadyAsked) => {
                                prop_assert!(false, "a direct extension never waits for approval");
                            }
                        }
                    }
                    Op::Tick => {}
                }
                if let Lifecycle::Active(w) = &state {
                    prop_assert!(now < w.expires_at);
                }
                if let Lifecycle::CoolingDown { until } = &state {
                    prop_assert_eq!(Some(*until), last_end.map(|e| e + COOL_DOWN));
                }
                if let Lifecycle::Requested(r) = &state {
                    prop_assert!(now < r.decide_by);
                }
            }
        }
    }
}
