// The add form's fields are the server function's arguments.
#![allow(clippy::too_many_arguments)]

//! Where notifications go: the Notification Channels card (admins) on the Configuration panel,
//! and the delivery log on the Alerts page.

use super::live::Live;
use crate::domain::notifications::{
    Channel, ChannelKind, Delivery, DeliveryStatus, SecretSource, TOPICS,
};
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

#[server]
pub async fn list_channels() -> Result<Vec<Channel>, AppError> {
    crate::server::server_fn_result(
        async {
            let notifications = expect_context::<crate::server::notifications::Notifications>();
            let actor = crate::server::auth::current_actor().await?;
            notifications.channels(&actor).await
        }
        .await,
    )
}

/// The form as typed; `topics` are the boxes ticked (`topics[]`).
#[server]
pub async fn add_channel(
    name: String,
    kind: String,
    url: String,
    secret: String,
    mail_from: String,
    mail_to: String,
    smtp_user: String,
    topics: Option<Vec<String>>,
) -> Result<Channel, AppError> {
    use crate::domain::WireField::{List, Text};
    crate::server::server_fn_result(
        async {
            let notifications = expect_context::<crate::server::notifications::Notifications>();
            let actor = crate::server::auth::current_actor().await?;
            let raw = crate::domain::notifications::ChannelRequest {
                name: Some(Text(name)),
                kind: Some(Text(kind)),
                url: Some(Text(url)),
                secret: Some(Text(secret)),
                mail_from: Some(Text(mail_from)),
                mail_to: Some(Text(mail_to)),
                smtp_user: Some(Text(smtp_user)),
                topics: Some(List(
                    topics.unwrap_or_default().into_iter().map(Text).collect(),
                )),
            };
            notifications.add_channel(&actor, raw).await
        }
        .await,
    )
}

#[server]
pub async fn remove_channel(id: i64) -> Result<(), AppError> {
    crate::server::server_fn_result(
        async {
            let notifications = expect_context::<crate::server::notifications::Notifications>();
            let actor = crate::server::auth::current_actor().await?;
            notifications.remove_channel(&actor, id).await
        }
        .await,
    )
}

#[server]
pub async fn test_channel(id: i64) -> Result<Delivery, AppError> {
    crate::server::server_fn_result(
        async {
            let notifications = expect_context::<crate::server::notifications::Notifications>();
            let actor = crate::server::auth::current_actor().await?;
            notifications.test_channel(&actor, id).await
        }
        .await,
    )
}

#[server]
pub async fn list_deliveries() -> Result<Vec<Delivery>, AppError> {
    crate::server::server_fn_result(
        async {
            let notifications = expect_context::<crate::server::notifications::Notifications>();
            let actor = crate::server::auth::current_actor().await?;
            notifications.deliveries(&actor).await
        }
        .await,
    )
}

/// The Notification Channels card, for admins: add a channel (its secret is never shown
/// back), send it a test, remove it.
#[component]
pub fn NotificationChannelsCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let may_configure = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::NotificationsConfigure))
    };
    view! {
        <Show when=may_configure>
            <ChannelsList/>
        </Show>
    }
}

#[component]
fn ChannelsList() -> impl IntoView {
    let add = ServerAction::<AddChannel>::new();
    let remove = ServerAction::<RemoveChannel>::new();
    let test = ServerAction::<TestChannel>::new();
    let channels = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| list_channels(),
    );
    view! {
        <section class="card wide" aria-labelledby="channels-title" data-testid="channels-card">
            <h2 id="channels-title">"Notification Channels"</h2>
            <p class="muted">
                "Who hears of a break-glass window. Webhooks are signed (HMAC-SHA256 over "
                <code>"<timestamp>.<body>"</code> "); a secret is stored encrypted or named as "
                <code>"env:NAME"</code> ", and never shown again."
            </p>
            <ActionForm action=add attr:class="inline-form wrap">
                <label for="channel-name">"Name"</label>
                <input id="channel-name" name="name" required maxlength="64"/>
                <label for="channel-kind">"Kind"</label>
                <select id="channel-kind" name="kind">
                    {ChannelKind::ALL.into_iter().map(|k| view! {
                        <option value=k.as_str()>{k.label()}</option>
                    }).collect_view()}
                </select>
                <label for="channel-url">"URL"</label>
                <input id="channel-url" name="url" maxlength="2048"
                    placeholder="https://… or smtp://host:port"/>
                <label for="channel-secret">"Secret"</label>
                <input id="channel-secret" name="secret" type="password" autocomplete="off"
                    placeholder="signing key, SMTP password, or env:NAME"/>
                <fieldset class="email-fields">
                    <legend>"Email only"</legend>
                    <label for="channel-from">"From"</label>
                    <input id="channel-from" name="mail_from" maxlength="254"/>
                    <label for="channel-to">"To (comma-separated)"</label>
                    <input id="channel-to" name="mail_to" maxlength="2048"/>
                    <label for="channel-user">"SMTP login"</label>
                    <input id="channel-user" name="smtp_user" maxlength="254" autocomplete="off"/>
                </fieldset>
                <fieldset class="scopes">
                    <legend>"Send"</legend>
                    {TOPICS.into_iter().map(|topic| view! {
                        <label>
                            <input type="checkbox" name="topics[]" value=topic.as_str() checked=true/>
                            {topic.label()}
                        </label>
                    }).collect_view()}
                </fieldset>
                <button type="submit">"Add channel"</button>
            </ActionForm>
            {move || add.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="server-error" role="alert">{e.to_string()}</p>
            })}
            {move || test.value().get().map(|r| match r {
                Ok(d) => view! {
                    <p role="status" data-testid="channel-test-queued">
                        "Test queued for " {d.channel} ": its delivery shows on the Alerts page."
                    </p>
                }.into_any(),
                Err(e) => view! { <p class="server-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading channels…"</p> }>
                {move || channels.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">"No channels: break-glass alerts show only on the Alerts page."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap"><table class="table" data-testid="channels-table">
                            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Where"</th><th>"Secret"</th><th>"Sends"</th><th>"Added"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|c| {
                                    let id = c.id;
                                    let place = match (c.kind, &c.endpoint) {
                                        (ChannelKind::Slack, _) => "the incoming webhook's URL (secret)".to_owned(),
                                        (ChannelKind::Email, Some(server)) => format!("{server} → {}", c.mail_to.join(", ")),
                                        (_, Some(url)) => url.clone(),
                                        (_, None) => String::new(),
                                    };
                                    let secret = match c.secret {
                                        SecretSource::None => "none",
                                        SecretSource::Stored => "stored encrypted",
                                        SecretSource::Environment => "from the environment",
                                    };
                                    view! {
                                        <tr>
                                            <td>{c.name}</td>
                                            <td>{c.kind.as_str()}</td>
                                            <td class="wrap-anywhere">{place}</td>
                                            <td>{secret}</td>
                                            <td>{c.topics.iter().map(|t| t.label()).collect::<Vec<_>>().join(", ")}</td>
                                            <td class="nowrap">{time_format::utc(c.created_at)}" by "{c.created_by}</td>
                                            <td class="nowrap">
                                                <button class="small" on:click=move |_| { test.dispatch(TestChannel { id }); }>"Send test"</button>
                                                " "
                                                <button class="small" on:click=move |_| { remove.dispatch(RemoveChannel { id }); }>"Remove"</button>
                                            </td>
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

/// The delivery log: each notification, where it went, and how its delivery went.
#[component]
pub fn DeliveryLog() -> impl IntoView {
    let live = expect_context::<Live>();
    let refresh = RwSignal::new(0u32);
    let deliveries = Resource::new(
        move || (live.last_alert.get().map(|a| a.id), refresh.get()),
        |_| list_deliveries(),
    );
    view! {
        <section aria-labelledby="deliveries-title" data-testid="delivery-log">
            <h2 id="deliveries-title">"Notification deliveries"</h2>
            <button class="small" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
            <Transition fallback=|| view! { <p class="muted">"Loading deliveries…"</p> }>
                {move || deliveries.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">"Nothing sent yet (admins add channels on the Configuration panel)."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap"><table class="table" data-testid="deliveries-table">
                            <thead><tr><th>"Time"</th><th>"Channel"</th><th>"Event"</th><th>"Status"</th><th>"Attempts"</th><th>"Last error"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|d| {
                                    let (class, status) = match d.status {
                                        DeliveryStatus::Delivered => ("pill ok", format!("delivered {}", d.delivered_at.map(time_format::utc).unwrap_or_default())),
                                        DeliveryStatus::Pending => ("pill warn", match d.next_attempt_at {
                                            Some(at) if d.attempts > 0 => format!("retrying at {}", time_format::utc(at)),
                                            _ => "pending".to_owned(),
                                        }),
                                        DeliveryStatus::Failed => ("pill danger", "failed".to_owned()),
                                    };
                                    view! {
                                        <tr>
                                            <td class="nowrap">{time_format::utc(d.created_at)}</td>
                                            <td>{d.channel}</td>
                                            <td>{d.topic.label()}": "{d.title}</td>
                                            <td><span class=class>{status}</span></td>
                                            <td>{d.attempts}</td>
                                            <td class="wrap-anywhere">{d.last_error.unwrap_or_default()}</td>
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
