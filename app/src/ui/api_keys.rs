use super::live::Live;
use crate::api_keys::{ApiKey, CreatedApiKey};
use crate::auth::Permission;
use crate::error::AppError;
use crate::time_format;
use leptos::prelude::*;

#[server]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    crate::server_fn_result(
        async {
            let actor = crate::auth::current_actor().await?;
            let state = expect_context::<crate::state::AppState>();
            crate::api_keys::list(&state.pool, &actor).await
        }
        .await,
    )
}

#[server]
pub async fn create_api_key(name: String) -> Result<CreatedApiKey, AppError> {
    crate::server_fn_result(
        async {
            let actor = crate::auth::current_actor().await?;
            let state = expect_context::<crate::state::AppState>();
            crate::api_keys::create(&state.pool, &actor, &name, state.clock.now()).await
        }
        .await,
    )
}

#[server]
pub async fn revoke_api_key(id: i64) -> Result<ApiKey, AppError> {
    crate::server_fn_result(
        async {
            let actor = crate::auth::current_actor().await?;
            let state = expect_context::<crate::state::AppState>();
            crate::api_keys::revoke(&state.pool, &actor, id, state.clock.now()).await
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
        <section class="card" aria-labelledby="keys-title" data-testid="api-keys-card">
            <h2 id="keys-title">"Gateway API Keys"</h2>
            <p class="muted">"Agents send these as " <code>"Authorization: Bearer …"</code>
                " to " <code>"/v1/chat/completions"</code> "."</p>
            <ActionForm action=create attr:class="inline-form">
                <label for="key-name">"Name"</label>
                <input id="key-name" name="name" required maxlength="100"/>
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
                        <table class="table" data-testid="api-keys-table">
                            <thead><tr><th>"Name"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|k| {
                                    let id = k.id;
                                    view! {
                                        <tr>
                                            <td>{k.name}</td>
                                            <td><code>{k.prefix}"…"</code></td>
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
                        </table>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}
