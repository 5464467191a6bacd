use super::live::Live;
use crate::domain::break_glass::{ActivatedWindow, BreakGlassStatus, DeactivationSummary, Phase};
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

#[server]
pub async fn deactivate_break_glass() -> Result<DeactivationSummary, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            break_glass.deactivate(&actor).await
        }
        .await,
    )
}

/// Moves the open window's end later: `reason` (10 to 500 characters) and `minutes`, as typed.
#[server]
pub async fn extend_break_glass(
    reason: String,
    minutes: String,
) -> Result<ActivatedWindow, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::ExtensionRequest::from_form(reason, minutes);
            break_glass.extend(&actor, raw).await
        }
        .await,
    )
}

/// A second operator answers for the open window, with a `note` of 10 to 500 characters.
#[server]
pub async fn acknowledge_break_glass(note: String) -> Result<ActivatedWindow, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::AcknowledgementRequest {
                note: Some(crate::domain::WireField::Text(note)),
            };
            break_glass.acknowledge(&actor, raw).await
        }
        .await,
    )
}

/// A second operator approves the waiting request, with a `note` of 10 to 500 characters.
#[server]
pub async fn approve_break_glass(note: String) -> Result<ActivatedWindow, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::AcknowledgementRequest {
                note: Some(crate::domain::WireField::Text(note)),
            };
            break_glass.approve(&actor, raw).await
        }
        .await,
    )
}

/// A second operator denies the waiting request, with a `note` of 10 to 500 characters.
#[server]
pub async fn deny_break_glass(note: String) -> Result<BreakGlassStatus, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::AcknowledgementRequest {
                note: Some(crate::domain::WireField::Text(note)),
            };
            break_glass.deny(&actor, raw).await
        }
        .await,
    )
}

/// On top of every page: the red banner while break-glass is active, the amber one while a
/// request waits for approval.
#[component]
pub fn BreakGlassBanner() -> impl IntoView {
    let live = expect_context::<Live>();
    move || match live.status.get() {
        Some(s) if s.state == Phase::Requested => {
            Some(view! { <RequestBanner status=s/> }.into_any())
        }
        Some(s) if s.active => Some(view! { <ActiveBanner status=s/> }.into_any()),
        _ => None,
    }
}

/// A request waiting for a second operator: who asks, why, for how long, and how long is left
/// to decide; Approve and Deny for those who may decide, except the requester.
#[component]
fn RequestBanner(status: BreakGlassStatus) -> impl IntoView {
    let live = expect_context::<Live>();
    let decide_by = status.decide_by;
    let requester = status.requested_by.clone().unwrap_or_default();
    let may_decide = {
        let requester = requester.clone();
        move || {
            live.me
                .get()
                .is_some_and(|me| me.can(Permission::BreakGlassApprove) && me.username != requester)
        }
    };
    let mine = {
        let requester = requester.clone();
        move || live.me.get().is_some_and(|me| me.username == requester)
    };
    view! {
        <div class="banner requested" role="alert" data-testid="request-banner">
            <strong class="banner-title">"BREAK-GLASS REQUESTED"</strong>
            <span class="banner-text">
                <span class="banner-who">{requester.clone()}</span>
                " asks for " {status.duration_minutes} " minutes of shield bypass ("
                <span data-testid="request-scope">{status.scope_text.clone()}</span> "): "
                <span class="banner-reason">{status.reason.clone()}</span>
                {status.overrides_review_of.map(|id| view! {
                    <span class="banner-override" data-testid="request-override-note">
                        " — an override: window #" {id} " has not been reviewed yet"
                    </span>
                })}
            </span>
            <span>
                <span class="banner-countdown" data-testid="decide-countdown" aria-live="off">
                    {move || decide_by.and_then(|d| live.seconds_until(d)).map(time_format::mm_ss)}
                </span>
                " left to decide"
            </span>
            <Show when=mine>
                <span class="pill warn" data-testid="request-state">"Waiting for a second operator's approval"</span>
            </Show>
            <Show when=may_decide.clone()>
                <Decide/>
            </Show>
        </div>
    }
}

/// Approve or Deny, each with a note.
#[component]
fn Decide() -> impl IntoView {
    let approve = ServerAction::<ApproveBreakGlass>::new();
    let deny = ServerAction::<DenyBreakGlass>::new();
    let note = RwSignal::new(String::new());
    let error = move || {
        approve
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| deny.value().get().and_then(|r| r.err()))
    };
    let busy = move || approve.pending().get() || deny.pending().get();
    view! {
        <span class="banner-extend" data-testid="decide-form">
            <label for="bg-decide-note">"Note"</label>
            <input id="bg-decide-note" maxlength="500" placeholder="What you checked"
                prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev))/>
            <button class="banner-button" disabled=busy
                on:click=move |_| { approve.dispatch(ApproveBreakGlass { note: note.get_untracked() }); }>
                "Approve"
            </button>
            <button class="banner-button secondary" disabled=busy
                on:click=move |_| { deny.dispatch(DenyBreakGlass { note: note.get_untracked() }); }>
                "Deny"
            </button>
        </span>
        {move || error().map(|e| view! {
            <span class="banner-error" role="alert" data-testid="decide-error">{e.to_string()}</span>
        })}
    }
}

/// The red banner while break-glass is active.
#[component]
fn ActiveBanner(status: BreakGlassStatus) -> impl IntoView {
    let live = expect_context::<Live>();
    let expires_at = status.expires_at;
    view! {
        <div class="banner" class:drill=status.drill role="alert" data-testid="break-glass-banner"
            data-drill=status.drill.to_string()>
            <strong class="banner-title">
                {if status.drill { "DRILL — BREAK-GLASS REHEARSAL" } else { "BREAK-GLASS ACTIVE" }}
            </strong>
            <span class="banner-text">
                {if status.drill {
                    "Nothing is bypassed — traffic is still scanned. ".to_owned()
                } else {
                    format!(
                        "Shield bypassed for {} — not scanned. ",
                        status.scope_text.clone().unwrap_or_else(|| "all traffic".to_owned())
                    )
                }}
                <span class="banner-reason">{status.reason.clone()}</span>
                " — activated by "
                <span class="banner-who">{status.activated_by.clone()}</span>
            </span>
            <span class="banner-countdown" data-testid="countdown" aria-live="off">
                {move || expires_at.and_then(|e| live.seconds_until(e)).map(time_format::mm_ss)}
            </span>
            <AckState status=status.clone()/>
            {status.extension_requested_by.clone().map(|asker| view! {
                <ExtensionAsked asker=asker minutes=status.extension_minutes.unwrap_or_default()
                    reason=status.extension_reason.clone().unwrap_or_default()/>
            })}
            <Acknowledge activated_by=status.activated_by.clone().unwrap_or_default()
                acknowledged=status.acknowledged_by.is_some()/>
            <Extend/>
            <DeactivateNow/>
        </div>
    }
}

/// An extension waiting for approval, as everyone sees it; Approve and Deny for those who may
/// decide, except the operator who asked.
#[component]
fn ExtensionAsked(asker: String, minutes: u32, reason: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let may_decide = {
        let asker = asker.clone();
        move || {
            live.me
                .get()
                .is_some_and(|me| me.can(Permission::BreakGlassApprove) && me.username != asker)
        }
    };
    view! {
        <span class="pill warn" data-testid="extension-asked">
            "Extension of " {minutes} " minutes asked by " {asker} " — waiting for approval: "
            {reason}
        </span>
        <Show when=may_decide.clone()>
            <Decide/>
        </Show>
    }
}

/// Whether a second operator has answered for the window, as everyone sees it.
#[component]
fn AckState(status: BreakGlassStatus) -> impl IntoView {
    match (status.acknowledged_by, status.ack_overdue) {
        (Some(by), _) => view! {
            <span class="pill ok" data-testid="ack-state">"Acknowledged by " {by}</span>
        }
        .into_any(),
        (None, true) => view! {
            <span class="pill danger" data-testid="ack-state">"Not yet acknowledged — overdue"</span>
        }
        .into_any(),
        (None, false) => view! {
            <span class="pill warn" data-testid="ack-state">
                "Not yet acknowledged"
                {status.ack_due_at.map(|due| format!(" (due {})", time_format::utc(due)))}
            </span>
        }
        .into_any(),
    }
}

/// "Acknowledge", with a note; shown to those who may acknowledge, except the activator.
#[component]
fn Acknowledge(activated_by: String, acknowledged: bool) -> impl IntoView {
    let live = expect_context::<Live>();
    let acknowledge = ServerAction::<AcknowledgeBreakGlass>::new();
    let open = RwSignal::new(false);
    let allowed = move || {
        !acknowledged
            && live.me.get().is_some_and(|me| {
                me.can(Permission::BreakGlassAcknowledge) && me.username != activated_by
            })
    };
    view! {
        <Show when=allowed>
            <Show
                when=move || open.get()
                fallback=move || view! {
                    <button class="banner-button" on:click=move |_| open.set(true)>
                        "Acknowledge"
                    </button>
                }
            >
                <ActionForm action=acknowledge attr:class="banner-extend" attr:data-testid="ack-form">
                    <label for="bg-ack-note">"Note"</label>
                    <input id="bg-ack-note" name="note" required maxlength="500"
                        placeholder="What you checked"/>
                    <button type="submit" class="banner-button" disabled=move || acknowledge.pending().get()>
                        "Acknowledge"
                    </button>
                    <button type="button" class="banner-button secondary"
                        on:click=move |_| { acknowledge.value().set(None); open.set(false); }>
                        "Cancel"
                    </button>
                </ActionForm>
            </Show>
            {move || acknowledge.value().get().and_then(|r| r.err()).map(|e| view! {
                <span class="banner-error" role="alert" data-testid="ack-error">{e.to_string()}</span>
            })}
        </Show>
    }
}

/// "Extend": a reason and a number of minutes; shown to those who may activate. The window's
/// new end reaches every tab through the state event.
#[component]
fn Extend() -> impl IntoView {
    let live = expect_context::<Live>();
    let extend = ServerAction::<ExtendBreakGlass>::new();
    let open = RwSignal::new(false);
    let allowed = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::BreakGlassActivate))
    };
    Effect::new(move |_| {
        if let Some(Ok(_)) = extend.value().get() {
            extend.value().set(None);
            open.set(false);
        }
    });
    view! {
        <Show when=allowed>
            <Show
                when=move || open.get()
                fallback=move || view! {
                    <button class="banner-button secondary" on:click=move |_| open.set(true)>
                        "Extend"
                    </button>
                }
            >
                <ActionForm action=extend attr:class="banner-extend" attr:data-testid="extend-form">
                    <label for="bg-extend-reason">"Why"</label>
                    <input id="bg-extend-reason" name="reason" required
                        maxlength="500" placeholder="Reason for more time"/>
                    <label for="bg-extend-minutes">"Minutes"</label>
                    <input id="bg-extend-minutes" name="minutes" inputmode="numeric" size="4"
                        value="30"/>
                    <button type="submit" class="banner-button" disabled=move || extend.pending().get()>
                        "Extend"
                    </button>
                    <button type="button" class="banner-button secondary"
                        on:click=move |_| { extend.value().set(None); open.set(false); }>
                        "Cancel"
                    </button>
                </ActionForm>
            </Show>
            {move || extend.value().get().and_then(|r| r.err()).map(|e| view! {
                <span class="banner-error" role="alert" data-testid="extend-error">{e.to_string()}</span>
            })}
        </Show>
    }
}

/// "Deactivate Now", with a confirm step; shown to those who may deactivate.
#[component]
fn DeactivateNow() -> impl IntoView {
    let live = expect_context::<Live>();
    let deactivate = ServerAction::<DeactivateBreakGlass>::new();
    let confirming = RwSignal::new(false);
    let allowed = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::BreakGlassDeactivate))
    };
    view! {
        <Show when=allowed>
            <Show
                when=move || confirming.get()
                fallback=move || view! {
                    <button class="banner-button" on:click=move |_| confirming.set(true)>
                        "Deactivate Now"
                    </button>
                }
            >
                <span class="banner-confirm">
                    "End the bypass and restore scanning? "
                    <button class="banner-button" disabled=move || deactivate.pending().get()
                        on:click=move |_| { deactivate.dispatch(DeactivateBreakGlass {}); }>
                        "Yes, deactivate"
                    </button>
                    <button class="banner-button secondary" on:click=move |_| confirming.set(false)>
                        "Keep active"
                    </button>
                </span>
            </Show>
            {move || deactivate.value().get().and_then(|r| r.err()).map(|e| view! {
                <span class="banner-error" role="alert">{e.to_string()}</span>
            })}
        </Show>
    }
}
