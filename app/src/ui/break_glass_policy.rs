//! The Break-Glass Policy card: how soon a second operator must acknowledge each window.

use super::live::Live;
use crate::domain::break_glass::Policy;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

#[server]
pub async fn load_policy() -> Result<Policy, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            break_glass.policy(&crate::domain::Reader::Operator(actor))
        }
        .await,
    )
}

/// `ack_minutes` as typed: 1 to 240.
#[server]
pub async fn set_policy(ack_minutes: String) -> Result<Policy, AppError> {
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::PolicyRequest {
                ack_minutes: Some(crate::domain::WireField::Text(ack_minutes)),
            };
            break_glass.set_policy(&actor, raw).await
        }
        .await,
    )
}

#[component]
pub fn BreakGlassPolicyCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let set = ServerAction::<SetPolicy>::new();
    let policy = Resource::new(move || set.version().get(), |_| load_policy());
    let may_configure = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::PolicyConfigure))
    };
    view! {
        <section class="card" aria-labelledby="policy-title" data-testid="policy-card">
            <h2 id="policy-title">"Break-Glass Policy"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || policy.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(p) => view! {
                        <p data-testid="policy-ack">
                            "Emergency with acknowledgement: a window takes effect at once; a second "
                            "operator (never its activator) must acknowledge it within "
                            <strong>{p.ack_minutes.minutes()} " minutes"</strong>
                            ", or it is escalated as CRITICAL."
                        </p>
                        <Show when=may_configure>
                            <ActionForm action=set attr:class="inline-form">
                                <label for="policy-ack-minutes">"Acknowledge within (minutes)"</label>
                                <input id="policy-ack-minutes" name="ack_minutes" inputmode="numeric"
                                    size="4" value=p.ack_minutes.minutes().to_string()/>
                                <button type="submit" disabled=move || set.pending().get()>"Save policy"</button>
                            </ActionForm>
                        </Show>
                    }.into_any(),
                })}
            </Transition>
            {move || set.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="server-error" role="alert">{e.to_string()}</p>
            })}
        </section>
    }
}
