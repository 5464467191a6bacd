use super::live::Live;
use crate::domain::break_glass::input::{
    BypassDuration, Confirmation, Reason, DURATION_PRESETS, REASON_MAX_CHARS, REASON_MIN_CHARS,
};
use crate::domain::break_glass::{ActivatedWindow, BreakGlassStatus, ScopeChoice, ScopedKey};
use crate::domain::AppError;
use crate::domain::WireField;
use leptos::html::Dialog;
use leptos::prelude::*;

/// Takes the fields as the operator typed them, so that any input, even one posted by hand,
/// gets the parse error that names its field: the same error the JSON API gives, since both
/// parse an `ActivationRequest`.
#[server]
pub async fn activate_break_glass(
    reason: String,
    duration_minutes: String,
    scope_keys: Option<String>,
    scope_models: Option<String>,
    confirm: String,
) -> Result<ActivatedWindow, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = activation_form(reason, duration_minutes, scope_keys, scope_models, confirm);
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
    scope_keys: Option<String>,
    scope_models: Option<String>,
    confirm: String,
) -> Result<BreakGlassStatus, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = activation_form(reason, duration_minutes, scope_keys, scope_models, confirm);
            break_glass.request(&actor, raw).await
        }
        .await,
    )
}

/// The same fields, for a drill: the whole procedure, nothing bypassed.
#[server]
pub async fn start_drill(
    reason: String,
    duration_minutes: String,
    scope_keys: Option<String>,
    scope_models: Option<String>,
    confirm: String,
) -> Result<ActivatedWindow, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = activation_form(reason, duration_minutes, scope_keys, scope_models, confirm);
            break_glass.start_drill(&actor, raw).await
        }
        .await,
    )
}

/// The API keys the dialog offers for the scope.
#[server]
pub async fn scope_keys() -> Result<Vec<ScopedKey>, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let clock = expect_context::<crate::server::clock::SharedClock>();
            let actor = crate::server::auth::current_actor().await?;
            crate::server::api_keys::scopable(&pool, &actor, clock.now()).await
        }
        .await,
    )
}

/// The dialog's fields as typed; scope fields left out bypass everything, as in the API.
#[cfg(feature = "ssr")]
fn activation_form(
    reason: String,
    duration_minutes: String,
    scope_keys: Option<String>,
    scope_models: Option<String>,
    confirm: String,
) -> crate::domain::break_glass::ActivationRequest {
    crate::domain::break_glass::ActivationRequest::from_form(reason, duration_minutes, confirm)
        .with_scope(
            scope_keys.unwrap_or_default(),
            scope_models.unwrap_or_default(),
        )
}

fn preset_label(minutes: u32) -> String {
    if minutes < 60 {
        format!("{minutes}m")
    } else {
        format!("{}h", minutes / 60)
    }
}

/// The confirmation dialog: reason, duration, scope, `CONFIRM`. Each field is parsed live
/// with the same types the server uses; the button is enabled only when all of them parse.
/// Under the approval-required policy the same dialog sends a request instead of activating;
/// with `drill` set it starts a drill.
#[component]
pub fn ActivationDialog(open: RwSignal<bool>, drill: RwSignal<bool>) -> impl IntoView {
    let live = expect_context::<Live>();
    let approval = move || !drill.get() && live.status.get().is_some_and(|s| s.approval_required);
    let request = ServerAction::<RequestBreakGlass>::new();
    let dialog = NodeRef::<Dialog>::new();
    let reason = RwSignal::new(String::new());
    let minutes = RwSignal::new("60".to_owned());
    let chosen_keys = RwSignal::new(std::collections::BTreeSet::<i64>::new());
    let models = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let activate = ServerAction::<ActivateBreakGlass>::new();
    let rehearse = ServerAction::<StartDrill>::new();
    // Loaded in the browser when the dialog opens (it is never rendered open on the server).
    let offered_keys = LocalResource::new(move || {
        let open = open.get();
        async move {
            if open {
                scope_keys().await
            } else {
                Ok(Vec::new())
            }
        }
    });

    let keys_text = move || {
        chosen_keys
            .get()
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let scope = move || {
        ScopeChoice::from_wire(
            Some(WireField::Text(keys_text())),
            Some(WireField::Text(models.get())),
        )
    };
    let scope_words = move || {
        let offered = offered_keys.get().and_then(Result::ok).unwrap_or_default();
        scope().ok().and_then(|choice| {
            choice
                .named(|id| offered.iter().find(|k| k.id == id).map(|k| k.name.clone()))
                .ok()
                .map(|named| named.describe())
        })
    };
    let reason_error = move || Reason::parse(&reason.get()).err();
    let duration_error = move || BypassDuration::parse_input(&minutes.get()).err();
    let scope_error = move || scope().err();
    let confirm_error = move || Confirmation::parse(&confirm.get()).err();
    let valid = move || {
        reason_error().is_none()
            && duration_error().is_none()
            && scope_error().is_none()
            && confirm_error().is_none()
    };

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
        let activated = matches!(activate.value().get(), Some(Ok(_)))
            || matches!(rehearse.value().get(), Some(Ok(_)));
        let requested = matches!(request.value().get(), Some(Ok(_)));
        if activated || requested {
            reason.set(String::new());
            confirm.set(String::new());
            minutes.set("60".to_owned());
            chosen_keys.set(Default::default());
            models.set(String::new());
            activate.value().set(None);
            rehearse.value().set(None);
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
        let (scope_keys, scope_models) = (Some(untrack(keys_text)), Some(models.get_untracked()));
        if drill.get_untracked() {
            rehearse.dispatch(StartDrill {
                reason,
                duration_minutes,
                scope_keys,
                scope_models,
                confirm,
            });
        } else if untrack(approval) {
            request.dispatch(RequestBreakGlass {
                reason,
                duration_minutes,
                scope_keys,
                scope_models,
                confirm,
            });
        } else {
            activate.dispatch(ActivateBreakGlass {
                reason,
                duration_minutes,
                scope_keys,
                scope_models,
                confirm,
            });
        }
    };
    let cancel = move |_| {
        activate.value().set(None);
        rehearse.value().set(None);
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
                    {move || if drill.get() {
                        "Start a Break-Glass Drill"
                    } else if approval() {
                        "Request Break-Glass"
                    } else {
                        "Activate Break-Glass"
                    }}
                </h2>
                <Show when=move || drill.get()>
                    <p class="hint-box" data-testid="drill-hint">
                        "A drill rehearses the whole procedure: the banner (marked DRILL) in every "
                        "tab, alerts and notifications marked as a drill, the acknowledgement, the "
                        "end and the review. Nothing is bypassed: traffic stays scanned, no "
                        "cool-down follows, and a real activation ends the drill at once."
                    </p>
                </Show>
                <Show when=approval>
                    <p class="hint-box" data-testid="approval-hint">
                        "This deployment requires a second operator's approval: your request "
                        "waits on every operator's banner, and the window opens when another "
                        "operator approves it."
                    </p>
                </Show>
                <Show when=move || !drill.get()>
                    <p class="warning">
                        "While break-glass is active, LLM traffic in its scope goes past the shield "
                        "unscanned. Every such request is still logged as BYPASSED, alerted and "
                        "audited, and must be reviewed."
                    </p>
                </Show>

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

                <fieldset class="scope" data-testid="scope-fields">
                    <legend>"Scope"</legend>
                    <p class="hint">
                        "Bypass only what is broken. Leave both empty to bypass all traffic. With "
                        "keys and models, a request must match both; everything else is still "
                        "scanned and sent to LiteLLM."
                    </p>
                    <Transition fallback=|| ()>
                        {move || offered_keys.get().map(|r| match r {
                            Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                            Ok(keys) if keys.is_empty() => view! {
                                <p class="muted">"No live API key with the gateway scope."</p>
                            }.into_any(),
                            Ok(keys) => view! {
                                <div class="scope-keys" role="group" aria-label="API keys">
                                    {keys.into_iter().map(|k| {
                                        let id = k.id;
                                        view! {
                                            <label class="check">
                                                <input type="checkbox" name="scope-key" value=id.to_string()
                                                    prop:checked=move || chosen_keys.get().contains(&id)
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        chosen_keys.update(|set| {
                                                            if on { set.insert(id); } else { set.remove(&id); }
                                                        });
                                                    }/>
                                                {k.name} " (#" {id} ")"
                                            </label>
                                        }
                                    }).collect_view()}
                                </div>
                            }.into_any(),
                        })}
                    </Transition>
                    <label for="bg-models">"Models (exact names, separated by commas)"</label>
                    <input
                        id="bg-models"
                        name="scope_models"
                        autocomplete="off"
                        spellcheck="false"
                        aria-describedby="bg-scope-error bg-scope-words"
                        prop:value=move || models.get()
                        on:input=move |ev| models.set(event_target_value(&ev))
                    />
                    <p id="bg-scope-words" class="hint" data-testid="scope-words">
                        {move || scope_words().map(|w| format!("Bypasses {w}."))}
                    </p>
                    <p id="bg-scope-error" class="field-error" data-testid="scope-error">
                        {move || scope_error().map(|e| e.message)}
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
                                scope_keys: Some(keys_text()),
                                scope_models: Some(models.get_untracked()),
                                confirm: confirm.get_untracked(),
                            });
                        }>
                        "Request an override"
                    </button>
                </Show>
                <p class="server-error" role="alert" data-testid="server-error">
                    {move || activate.value().get().and_then(|r| r.err())
                        .or_else(|| rehearse.value().get().and_then(|r| r.err()))
                        .or_else(|| request.value().get().and_then(|r| r.err()))
                        .map(|e| e.to_string())}
                </p>
                <div class="actions">
                    <button type="button" on:click=cancel>"Cancel"</button>
                    <button
                        type="submit"
                        class="danger"
                        disabled=move || !valid() || activate.pending().get() || request.pending().get()
                            || rehearse.pending().get()
                        class:drill=move || drill.get()
                    >
                        {move || if drill.get() {
                            "Start drill"
                        } else if approval() {
                            "Request approval"
                        } else {
                            "Activate Break-Glass"
                        }}
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
