use super::live::Live;
use crate::domain::break_glass::input::{
    BypassDuration, Confirmation, Reason, DURATION_PRESETS, REASON_MAX_CHARS, REASON_MIN_CHARS,
};
use crate::domain::break_glass::{ActivatedWindow, BreakGlassStatus};
use crate::domain::AppError;
use leptos::html::Dialog;
use leptos::prelude::*;

/// Takes the fields as the operator typed them, so that any input, even one posted by hand,
/// gets the parse error that names its field: the same error the JSON API gives, since both
/// parse an `ActivationRequest`.
#[server]
pub async fn activate_break_glass(
    reason: String,
    duration_minutes: String,
    confirm: String,
) -> Result<ActivatedWindow, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::ActivationRequest::from_form(
                reason,
                duration_minutes,
                confirm,
            );
            break_glass.activate(&actor, raw).await
        }
        .await,
    )
}

/// The same fields, when the policy requires a second operator's approval: a request.
#[server]
pub async fn request_break_glass(
    reason: String,
    duration_minutes: String,
    confirm: String,
) -> Result<BreakGlassStatus, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::ActivationRequest::from_form(
                reason,
                duration_minutes,
                confirm,
            );
            break_glass.request(&actor, raw).await
        }
        .await,
    )
}

fn preset_label(minutes: u32) -> String {
    if minutes < 60 {
        format!("{minutes}m")
    } else {
        format!("{}h", minutes / 60)
    }
}

/// The confirmation dialog: reason, duration, `CONFIRM`. Each field is parsed live with the
/// same types the server uses; the button is enabled only when all three parse. Under the
/// approval-required policy the same dialog sends a request instead of activating.
#[component]
pub fn ActivationDialog(open: RwSignal<bool>) -> impl IntoView {
    let live = expect_context::<Live>();
    let approval = move || live.status.get().is_some_and(|s| s.approval_required);
    let request = ServerAction::<RequestBreakGlass>::new();
    let dialog = NodeRef::<Dialog>::new();
    let reason = RwSignal::new(String::new());
    let minutes = RwSignal::new("60".to_owned());
    let confirm = RwSignal::new(String::new());
    let activate = ServerAction::<ActivateBreakGlass>::new();

    let reason_error = move || Reason::parse(&reason.get()).err();
    let duration_error = move || BypassDuration::parse_input(&minutes.get()).err();
    let confirm_error = move || Confirmation::parse(&confirm.get()).err();
    let valid =
        move || reason_error().is_none() && duration_error().is_none() && confirm_error().is_none();

    Effect::new(move |_| {
        let Some(d) = dialog.get() else { return };
        if open.get() {
            if !d.open() {
                let _ = d.show_modal();
            }
        } else if d.open() {
            d.close();
        }
    });
    // After a request the dialog stays open and follows it until it is decided.
    let waiting = RwSignal::new(false);
    Effect::new(move |_| {
        let activated = matches!(activate.value().get(), Some(Ok(_)));
        let requested = matches!(request.value().get(), Some(Ok(_)));
        if activated || requested {
            reason.set(String::new());
            confirm.set(String::new());
            minutes.set("60".to_owned());
            activate.value().set(None);
            request.value().set(None);
            if requested {
                waiting.set(true);
            } else {
                open.set(false);
            }
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !untrack(valid) {
            return;
        }
        let (reason, duration_minutes, confirm) = (
            reason.get_untracked(),
            minutes.get_untracked(),
            confirm.get_untracked(),
        );
        if untrack(approval) {
            request.dispatch(RequestBreakGlass {
                reason,
                duration_minutes,
                confirm,
            });
        } else {
            activate.dispatch(ActivateBreakGlass {
                reason,
                duration_minutes,
                confirm,
            });
        }
    };
    let cancel = move |_| {
        activate.value().set(None);
        request.value().set(None);
        open.set(false);
    };

    view! {
        <dialog
            node_ref=dialog
            class="dialog"
            aria-labelledby="activate-title"
            data-testid="activation-dialog"
            on:close=move |_| open.set(false)
        >
            <Show when=move || waiting.get()>
                <RequestState done=move || { waiting.set(false); open.set(false); }/>
            </Show>
            <form on:submit=submit novalidate class:hidden=move || waiting.get()>
                <h2 id="activate-title">
                    {move || if approval() { "Request Break-Glass" } else { "Activate Break-Glass" }}
                </h2>
                <Show when=approval>
                    <p class="hint-box" data-testid="approval-hint">
                        "This deployment requires a second operator's approval: your request "
                        "waits on every operator's banner, and the window opens when another "
                        "operator approves it."
                    </p>
                </Show>
                <p class="warning">
                    "While break-glass is active, LLM traffic goes past the shield unscanned. "
                    "Every request is still logged as BYPASSED, alerted and audited, and must be reviewed."
                </p>

                <label for="bg-reason">"Reason"</label>
                <textarea
                    id="bg-reason"
                    name="reason"
                    rows="3"
                    autofocus
                    aria-describedby="bg-reason-count bg-reason-error"
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))
                ></textarea>
                <div id="bg-reason-count" class="hint" data-testid="reason-count">
                    {move || reason.get().trim().chars().count()}
                    {format!(" / {REASON_MAX_CHARS} characters (at least {REASON_MIN_CHARS})")}
                </div>
                <p id="bg-reason-error" class="field-error" data-testid="reason-error">
                    {move || (!reason.get().is_empty()).then(reason_error).flatten().map(|e| e.message)}
                </p>

                <fieldset class="durations">
                    <legend>"Duration"</legend>
                    {DURATION_PRESETS.into_iter().map(|m| view! {
                        <label class="preset">
                            <input
                                type="radio"
                                name="duration-preset"
                                value=m.to_string()
                                prop:checked=move || minutes.get().trim() == m.to_string()
                                on:change=move |_| minutes.set(m.to_string())
                            />
                            {preset_label(m)}
                        </label>
                    }).collect_view()}
                    <label for="bg-minutes" class="minutes-label">"Minutes"</label>
                    <input
                        id="bg-minutes"
                        name="duration_minutes"
                        inputmode="numeric"
                        aria-describedby="bg-minutes-error"
                        prop:value=move || minutes.get()
                        on:input=move |ev| minutes.set(event_target_value(&ev))
                    />
                    <p id="bg-minutes-error" class="field-error" data-testid="duration-error">
                        {move || duration_error().map(|e| e.message)}
                    </p>
                </fieldset>

                <label for="bg-confirm">"Type CONFIRM to proceed"</label>
                <input
                    id="bg-confirm"
                    name="confirm"
                    autocomplete="off"
                    spellcheck="false"
                    aria-describedby="bg-confirm-error"
                    prop:value=move || confirm.get()
                    on:input=move |ev| confirm.set(event_target_value(&ev))
                />
                <p id="bg-confirm-error" class="field-error" data-testid="confirm-error">
                    {move || (!confirm.get().is_empty()).then(confirm_error).flatten().map(|e| e.message)}
                </p>

                <Show when=move || matches!(
                    activate.value().get(),
                    Some(Err(AppError::ReviewPending { .. }))
                )>
                    <button type="button" class="danger" data-testid="request-override"
                        disabled=move || !valid() || request.pending().get()
                        on:click=move |_| {
                            request.dispatch(RequestBreakGlass {
                                reason: reason.get_untracked(),
                                duration_minutes: minutes.get_untracked(),
                                confirm: confirm.get_untracked(),
                            });
                        }>
                        "Request an override"
                    </button>
                </Show>
                <p class="server-error" role="alert" data-testid="server-error">
                    {move || activate.value().get().and_then(|r| r.err())
                        .or_else(|| request.value().get().and_then(|r| r.err()))
                        .map(|e| e.to_string())}
                </p>
                <div class="actions">
                    <button type="button" on:click=cancel>"Cancel"</button>
                    <button
                        type="submit"
                        class="danger"
                        disabled=move || !valid() || activate.pending().get() || request.pending().get()
                    >
                        {move || if approval() { "Request approval" } else { "Activate Break-Glass" }}
                    </button>
                </div>
            </form>
        </dialog>
    }
}

/// The request just sent, as it stands: waiting (with the time left to decide), approved, or
/// denied or lapsed.
#[component]
fn RequestState(done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    use crate::domain::break_glass::Phase;
    let live = expect_context::<Live>();
    view! {
        <div class="request-state" data-testid="dialog-request-state" role="status">
            <h2>"Break-Glass Requested"</h2>
            {move || match live.status.get() {
                Some(s) if s.state == Phase::Requested => {
                    let decide_by = s.decide_by;
                    view! {
                        <p>
                            "Waiting for a second operator's approval: "
                            <strong>
                                {move || decide_by.and_then(|d| live.seconds_until(d)).map(crate::domain::time_format::mm_ss)}
                            </strong>
                            " left to decide. You can close this; every tab's banner follows it too."
                        </p>
                    }.into_any()
                }
                Some(s) if s.active => view! {
                    <p>
                        "Approved by " <strong>{s.acknowledged_by.clone()}</strong>
                        ": break-glass is active until "
                        {s.expires_at.map(crate::domain::time_format::utc)} "."
                    </p>
                }.into_any(),
                _ => view! {
                    <p>"The request was denied or lapsed: nothing was opened."</p>
                }.into_any(),
            }}
            <div class="actions">
                <button type="button" on:click=move |_| done()>"Close"</button>
            </div>
        </div>
    }
}
