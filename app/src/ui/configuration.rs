use super::account::AccountCard;
use super::activation_dialog::ActivationDialog;
use super::api_keys::ApiKeysCard;
use super::break_glass_policy::BreakGlassPolicyCard;
use super::live::Live;
use super::notification_channels::NotificationChannelsCard;
use super::operators::OperatorsCard;
use super::review_page::AwaitingReviews;
use super::shield_settings::ShieldSettingsCard;
use crate::domain::alerts::Alert;
use crate::domain::break_glass::Phase;
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

/// An unresolved "LiteLLM unreachable" alert of the last 30 minutes, if any.
#[server]
pub async fn litellm_outage() -> Result<Option<Alert>, AppError> {
    crate::server::server_fn_result(
        async {
            let clock = expect_context::<crate::server::clock::SharedClock>();
            let pool = expect_context::<crate::server::database::Pool>();
            let actor = crate::server::auth::current_actor().await?;
            let since = clock.now() - chrono::TimeDelta::minutes(30);
            crate::server::alerts::unresolved_since(
                &pool,
                &actor,
                crate::domain::alerts::SOURCE_GATEWAY,
                crate::domain::alerts::LITELLM_UNREACHABLE,
                since,
            )
            .await
        }
        .await,
    )
}

#[component]
pub fn ConfigurationPage() -> impl IntoView {
    view! {
        <h1>"Configuration"</h1>
        <div class="cards">
            <BreakGlassCard/>
            <BreakGlassPolicyCard/>
            <ShieldSettingsCard/>
            <NotificationChannelsCard/>
            <ApiKeysCard/>
            <OperatorsCard/>
            <AccountCard/>
        </div>
    }
}

/// The Break-Glass Mode card: the state in words, and the BREAK-GLASS button.
#[component]
fn BreakGlassCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let dialog_open = RwSignal::new(false);
    let drill = RwSignal::new(false);
    let phase = move || live.status.get().map(|s| s.state);
    let drill_open = move || live.status.get().is_some_and(|s| s.active && s.drill);
    let degraded = move || live.status.get().is_some_and(|s| s.degraded);
    let may_activate = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::BreakGlassActivate))
    };
    view! {
        <section class="card" aria-labelledby="break-glass-title" data-testid="break-glass-card">
            <h2 id="break-glass-title">"Break-Glass Mode"</h2>
            <div class="card-state" data-testid="break-glass-state">
                {move || match live.status.get() {
                    None => view! { <p class="muted">"Connecting to the server…"</p> }.into_any(),
                    Some(s) => match s.state {
                        Phase::Inactive => view! {
                            <p><span class="pill ok">"Inactive"</span>
                                " The shield scans all LLM traffic. Break-glass bypasses it for a "
                                "bounded time when the shield path is down and agents must keep working. "
                                "It needs a written reason, is alerted and audited, and every bypassed "
                                "request is logged for review."
                            </p>
                        }.into_any(),
                        Phase::Active if s.drill => {
                            let until = s.expires_at.map(time_format::utc).unwrap_or_default();
                            view! {
                                <p><span class="pill drill">"Drill"</span>
                                    " Started by " <strong>{s.activated_by.clone()}</strong>
                                    " until " <strong>{until}</strong>
                                    ". Nothing is bypassed: traffic is still scanned. A real "
                                    "activation ends the drill at once. Reason: "
                                    <q class="reason">{s.reason.clone()}</q>
                                </p>
                            }.into_any()
                        }
                        Phase::Active => {
                            let until = s.expires_at.map(time_format::utc).unwrap_or_default();
                            view! {
                                <p><span class="pill danger">"Active"</span>
                                    " Activated by " <strong>{s.activated_by.clone()}</strong>
                                    " until " <strong>{until}</strong> ", bypassing "
                                    <strong data-testid="card-scope">{s.scope_text.clone()}</strong>
                                    ". Reason: " <q class="reason">{s.reason.clone()}</q>
                                </p>
                            }.into_any()
                        }
                        Phase::Requested => {
                            let decide_by = s.decide_by;
                            view! {
                                <p><span class="pill warn">"Requested"</span>
                                    " " <strong>{s.requested_by.clone()}</strong>
                                    " asks for " {s.duration_minutes} " minutes. Reason: "
                                    <q class="reason">{s.reason.clone()}</q>
                                    " A second operator must decide within "
                                    <strong data-testid="decide-remaining">
                                        {move || decide_by.and_then(|d| live.seconds_until(d)).map(time_format::mm_ss)}
                                    </strong> "."
                                </p>
                            }.into_any()
                        }
                        Phase::CoolingDown => {
                            let until = s.cool_down_until;
                            view! {
                                <p><span class="pill warn">"Cooling down"</span>
                                    " Break-glass can be activated again in "
                                    <strong data-testid="cool-down-remaining">
                                        {move || until.and_then(|u| live.seconds_until(u)).map(time_format::mm_ss)}
                                    </strong> "."
                                </p>
                            }.into_any()
                        }
                    },
                }}
            </div>
            <Show
                when=may_activate
                fallback=|| view! { <p class="muted">"Your role cannot activate break-glass."</p> }
            >
                <button
                    class="break-glass-button"
                    data-testid="break-glass-button"
                    disabled=move || (phase() != Some(Phase::Inactive) && !drill_open()) || degraded()
                    on:click=move |_| { drill.set(false); dialog_open.set(true); }
                >
                    "BREAK-GLASS"
                </button>
                <button
                    class="drill-button"
                    data-testid="drill-button"
                    disabled=move || phase() != Some(Phase::Inactive) || degraded()
                    on:click=move |_| { drill.set(true); dialog_open.set(true); }
                >
                    "Start drill"
                </button>
            </Show>
            <LastDrill/>
            <Show when=degraded>
                <p class="hint-box" role="alert" data-testid="degraded">
                    <strong>"This server has lost its connection to the database."</strong>
                    " It cannot hear the other replicas, so the state above may be out of date, and "
                    "it refuses to activate break-glass until it reconnects. Deactivating still works "
                    "through any replica that can reach the database."
                </p>
            </Show>
            <LiteLlmOutageHint/>
            <AwaitingReviews/>
            <ActivationDialog open=dialog_open drill=drill/>
        </section>
    }
}

/// When the last drill was, and a warning when it is older than the policy wants.
#[component]
fn LastDrill() -> impl IntoView {
    let live = expect_context::<Live>();
    move || {
        live.status.get().map(|s| {
            let when = match s.last_drill_at {
                Some(at) => {
                    let days = (s.server_time - at).num_days();
                    format!(
                        "Last drill: {} ({}).",
                        time_format::utc(at),
                        match days {
                            0 => "today".to_owned(),
                            1 => "1 day ago".to_owned(),
                            n => format!("{n} days ago"),
                        }
                    )
                }
                None => "No drill has been run yet.".to_owned(),
            };
            view! {
                <p class:hint-box=s.drill_overdue class:muted=!s.drill_overdue
                    role=if s.drill_overdue { "alert" } else { "status" }
                    data-testid="last-drill" data-overdue=s.drill_overdue.to_string()>
                    {when}
                    {s.drill_overdue.then_some(
                        " Rehearse break-glass: the policy asks for a drill more often than that."
                    )}
                </p>
            }
        })
    }
}

/// When the shield path is failing, say that this is what break-glass is for.
#[component]
fn LiteLlmOutageHint() -> impl IntoView {
    let live = expect_context::<Live>();
    let outage = Resource::new(
        move || live.last_alert.get().map(|a| a.id),
        |_| litellm_outage(),
    );
    view! {
        <Transition fallback=|| ()>
            {move || outage.get().and_then(|r| r.ok()).flatten().map(|alert| view! {
                <p class="hint-box" role="status" data-testid="litellm-outage">
                    <strong>"LiteLLM is unreachable"</strong>
                    " (since " {time_format::utc(alert.created_at)} "): agents' requests are failing. "
                    "Break-glass exists for exactly this: it lets them keep working, unscanned but "
                    "recorded, until the shield path is back."
                </p>
            })}
        </Transition>
    }
}
