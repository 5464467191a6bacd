//! The Break-Glass Policy card: whether a window opens at once or on a second operator's
//! approval, and how soon that operator must acknowledge or decide.

use super::live::Live;
use crate::domain::break_glass::{Mode, Policy};
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

/// The form as typed: `ack_minutes` and `approval_minutes` 1 to 240, `mode` emergency or
/// approval, `review_gate` present when its box is ticked, `drill_days` 1 to 365.
#[server]
pub async fn set_policy(
    ack_minutes: String,
    mode: String,
    approval_minutes: String,
    review_gate: Option<String>,
    drill_days: String,
) -> Result<Policy, AppError> {
    use crate::domain::WireField::Text;
    crate::server::server_fn_result(
        async {
            let break_glass =
                expect_context::<std::sync::Arc<crate::server::break_glass::BreakGlassService>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::break_glass::PolicyRequest {
                ack_minutes: Some(Text(ack_minutes)),
                mode: Some(Text(mode)),
                approval_minutes: Some(Text(approval_minutes)),
                review_gate: Some(serde_json::Value::String(
                    if review_gate.is_some() { "on" } else { "off" }.to_owned(),
                )),
                drill_days: Some(Text(drill_days)),
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
                        {match p.mode {
                            Mode::Emergency => view! {
                                <p data-testid="policy-mode">
                                    "Emergency with acknowledgement: a window takes effect at once."
                                </p>
                            }.into_any(),
                            Mode::Approval => view! {
                                <p data-testid="policy-mode">
                                    "Approval required: an activation is a request that a second "
                                    "operator (never the requester) approves or denies within "
                                    <strong>{p.approval_minutes.minutes()} " minutes"</strong>
                                    "; the window opens at the approval."
                                </p>
                            }.into_any(),
                        }}
                        <Show when=move || p.review_gate>
                            <p data-testid="policy-review-gate">
                                "Review gate: while an earlier window waits for its review, a new "
                                "one opens only when a second operator approves it (an override)."
                            </p>
                        </Show>
                        <p data-testid="policy-ack">
                            "A second operator (never its activator) must acknowledge each window "
                            "within " <strong>{p.ack_minutes.minutes()} " minutes"</strong>
                            ", or it is escalated as CRITICAL."
                        </p>
                        <p data-testid="policy-drill-days">
                            "Rehearse at least every " <strong>{p.drill_days.days()} " days"</strong>
                            ": the Break-Glass card warns when the last drill is older."
                        </p>
                        <Show when=may_configure>
                            <ActionForm action=set attr:class="inline-form wrap">
                                <label for="policy-mode-select">"Activation"</label>
                                <select id="policy-mode-select" name="mode">
                                    <option value="emergency" selected=p.mode == Mode::Emergency>
                                        "Emergency with acknowledgement"
                                    </option>
                                    <option value="approval" selected=p.mode == Mode::Approval>
                                        "Approval required"
                                    </option>
                                </select>
                                <label for="policy-approval-minutes">"Decide within (minutes)"</label>
                                <input id="policy-approval-minutes" name="approval_minutes" inputmode="numeric"
                                    size="4" value=p.approval_minutes.minutes().to_string()/>
                                <label class="check">
                                    <input type="checkbox" name="review_gate" value="on" checked=p.review_gate/>
                                    "Hold new windows while a review is pending"
                                </label>
                                <label for="policy-ack-minutes">"Acknowledge within (minutes)"</label>
                                <input id="policy-ack-minutes" name="ack_minutes" inputmode="numeric"
                                    size="4" value=p.ack_minutes.minutes().to_string()/>
                                <label for="policy-drill-days">"Drill every (days)"</label>
                                <input id="policy-drill-days" name="drill_days" inputmode="numeric"
                                    size="4" value=p.drill_days.days().to_string()/>
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
