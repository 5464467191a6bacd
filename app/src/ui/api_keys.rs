// The create form's fields are the server function's arguments, one per scope checkbox.
#![allow(clippy::too_many_arguments)]

use super::live::Live;
use crate::domain::api_keys::{ApiKey, CreatedApiKey, DEFAULT_RATE_LIMIT};
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Permission;
use crate::domain::{Scope, SCOPES};
use leptos::prelude::*;

#[server]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let actor = crate::server::auth::current_actor().await?;
            crate::server::api_keys::list(&pool, &actor).await
        }
        .await,
    )
}

/// The form's scope checkboxes each arrive as their own field (present when ticked).
#[server]
pub async fn create_api_key(
    name: String,
    gateway: Option<String>,
    ingest: Option<String>,
    shield_scan: Option<String>,
    break_glass_read: Option<String>,
    audit_read: Option<String>,
    expires_at: String,
    rate_limit_per_minute: String,
) -> Result<CreatedApiKey, AppError> {
    use crate::domain::api_keys::KeyRequest;
    use crate::domain::Scope;
    crate::server::server_fn_result(
        async {
            let clock = expect_context::<crate::server::clock::SharedClock>();
            let pool = expect_context::<crate::server::database::Pool>();
            let actor = crate::server::auth::current_actor().await?;
            let scopes: Vec<Scope> = [
                (gateway, Scope::Gateway),
                (ingest, Scope::Ingest),
                (shield_scan, Scope::ShieldScan),
                (break_glass_read, Scope::BreakGlassRead),
                (audit_read, Scope::AuditRead),
            ]
            .into_iter()
            .filter(|(ticked, _)| ticked.is_some())
            .map(|(_, scope)| scope)
            .collect();
            let raw = KeyRequest::from_form(name, &scopes, expires_at, rate_limit_per_minute);
            crate::server::api_keys::create(&pool, &actor, raw, clock.now()).await
        }
        .await,
    )
}

#[server]
pub async fn revoke_api_key(id: i64) -> Result<ApiKey, AppError> {
    crate::server::server_fn_result(
        async {
            let api_keys = expect_context::<std::sync::Arc<crate::server::api_keys::KeyRegistry>>();
            let pool = expect_context::<crate::server::database::Pool>();
            let clock = expect_context::<crate::server::clock::SharedClock>();
            let actor = crate::server::auth::current_actor().await?;
            crate::server::api_keys::revoke(&pool, &api_keys, &actor, id, clock.now()).await
        }
        .await,
    )
}

/// Gateway API keys for the agents (admins only): create one (its secret is shown once),
/// see when each was last used, revoke.
#[component]
pub fn ApiKeysCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let may_manage = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::ApiKeysManage))
    };
    view! {
        <Show when=may_manage>
            <ApiKeysList/>
        </Show>
    }
}

#[component]
fn ApiKeysList() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    view! {
        <section class="card wide" aria-labelledby="keys-title" data-testid="api-keys-card">
            <h2 id="keys-title">"Gateway API Keys"</h2>
            <p class="muted">"Agents send these as " <code>"Authorization: Bearer …"</code>
                " to " <code>"/v1/chat/completions"</code> "."</p>
            <ActionForm action=create attr:class="inline-form wrap">
                <label for="key-name">"Name"</label>
                <input id="key-name" name="name" required maxlength="100"/>
                <fieldset class="scopes">
                    <legend>"Scopes"</legend>
                    {SCOPES.into_iter().map(|scope| {
                        let field = scope.as_str().replace(':', "_");
                        view! {
                            <label>
                                <input type="checkbox" name=field checked=scope == Scope::Gateway/>
                                {scope.as_str()}
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <label for="key-expires">"Expires (UTC, optional)"</label>
                <input id="key-expires" name="expires_at" type="datetime-local"/>
                <label for="key-rate">"Requests per minute"</label>
                <input id="key-rate" name="rate_limit_per_minute" inputmode="numeric" size="6"
                    placeholder=DEFAULT_RATE_LIMIT.to_string()/>
                <button type="submit">"Create key"</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(created) => view! {
                    <p class="secret" role="status" data-testid="new-key">
                        "Copy this key now; it will not be shown again: "
                        <code>{created.secret}</code>
                    </p>
                }.into_any(),
                Err(e) => view! { <p class="server-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
                {move || keys.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No keys yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap"><table class="table" data-testid="api-keys-table">
                            <thead><tr><th>"Name"</th><th>"Key"</th><th>"Scopes"</th><th>"Limits"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|k| {
                                    let id = k.id;
                                    view! {
                                        <tr>
                                            <td>{k.name}</td>
                                            <td><code>{k.prefix}"…"</code></td>
                                            <td>{k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")}</td>
                                            <td class="nowrap">{k.rate_limit_per_minute}" / min"
                                                {k.expires_at.map(|t| format!(", expires {}", time_format::utc(t)))}</td>
                                            <td class="nowrap">{time_format::utc(k.created_at)}" by "{k.created_by}</td>
                                            <td class="nowrap">{k.last_used_at.map(time_format::utc).unwrap_or_else(|| "never".into())}</td>
                                            <td>{match k.revoked_at {
                                                Some(at) => view! { <span class="muted">"revoked "{time_format::utc(at)}</span> }.into_any(),
                                                None => view! {
                                                    <button class="small" on:click=move |_| { revoke.dispatch(RevokeApiKey { id }); }>"Revoke"</button>
                                                }.into_any(),
                                            }}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
