use super::live::Live;
use crate::domain::shield::ShieldMode;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

#[server]
pub async fn current_shield_mode() -> Result<ShieldMode, AppError> {
    crate::server::server_fn_result(
        async {
            let shield_mode = expect_context::<crate::server::shield::ModeSetting>();
            let actor = crate::server::auth::current_actor().await?;
            shield_mode.read(&crate::domain::Reader::Operator(actor))
        }
        .await,
    )
}

#[server]
pub async fn set_shield_mode(mode: String) -> Result<ShieldMode, AppError> {
    crate::server::server_fn_result(
        async {
            let shield_mode = expect_context::<crate::server::shield::ModeSetting>();
            let actor = crate::server::auth::current_actor().await?;
            let mode = ShieldMode::parse(&mode)?;
            shield_mode.set(&actor, mode).await?;
            Ok(mode)
        }
        .await,
    )
}

/// The Shield Settings card: OBSERVE records verdicts; BLOCK also refuses BLOCK verdicts.
#[component]
pub fn ShieldSettingsCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let set_mode = ServerAction::<SetShieldMode>::new();
    let mode = Resource::new(move || set_mode.version().get(), |_| current_shield_mode());
    let may_configure = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::ShieldConfigure))
    };
    let choose = move |m: ShieldMode| {
        set_mode.dispatch(SetShieldMode {
            mode: m.as_str().to_owned(),
        });
    };
    view! {
        <section class="card" aria-labelledby="shield-title" data-testid="shield-card">
            <h2 id="shield-title">"Shield Settings"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || mode.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(current) => view! {
                        <p data-testid="shield-mode">
                            "Mode: " <strong>{current.as_str()}</strong> " — "
                            {match current {
                                ShieldMode::Observe => "verdicts are recorded; nothing is refused.",
                                ShieldMode::Block => "requests with a BLOCK verdict are refused with 403.",
                            }}
                        </p>
                        <Show when=may_configure>
                            <div class="actions left">
                                <button disabled=move || current == ShieldMode::Observe || set_mode.pending().get()
                                    on:click=move |_| choose(ShieldMode::Observe)>"Use OBSERVE"</button>
                                <button disabled=move || current == ShieldMode::Block || set_mode.pending().get()
                                    on:click=move |_| choose(ShieldMode::Block)>"Use BLOCK"</button>
                            </div>
                        </Show>
                    }.into_any(),
                })}
            </Transition>
            {move || set_mode.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="server-error" role="alert">{e.to_string()}</p>
            })}
        </section>
    }
}
