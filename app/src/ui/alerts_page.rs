use super::live::Live;
use super::notification_channels::DeliveryLog;
use crate::domain::alerts::{Alert, AlertAction, AlertStatus};
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

#[server]
pub async fn list_alerts() -> Result<Vec<Alert>, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let actor = crate::server::auth::current_actor().await?;
            crate::server::alerts::list(&pool, &actor, None, 200).await
        }
        .await,
    )
}

#[server]
pub async fn update_alert(id: i64, action: AlertAction) -> Result<Alert, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let clock = expect_context::<crate::server::clock::SharedClock>();
            let actor = crate::server::auth::current_actor().await?;
            crate::server::alerts::apply(&pool, &actor, id, action, clock.now()).await
        }
        .await,
    )
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let update = ServerAction::<UpdateAlert>::new();
    // Refetch when the server pushes an alert or an operator changed one.
    let alerts = Resource::new(
        move || (live.last_alert.get().map(|a| a.id), update.version().get()),
        |_| list_alerts(),
    );
    view! {
        <h1>"Alerts"</h1>
        {move || update.value().get().and_then(|r| r.err()).map(|e| view! {
            <p class="server-error" role="alert">{e.to_string()}</p>
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading alerts…"</p> }>
            {move || alerts.get().map(|r| match r {
                Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted">"No alerts."</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-wrap"><table class="table" data-testid="alerts-table">
                        <thead><tr>
                            <th>"Time"</th><th>"Severity"</th><th>"Alert"</th><th>"Status"</th><th></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|a| view! { <AlertRow alert=a update/> }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any(),
            })}
        </Transition>
        <DeliveryLog/>
    }
}

#[component]
fn AlertRow(alert: Alert, update: ServerAction<UpdateAlert>) -> impl IntoView {
    let live = expect_context::<Live>();
    let may_manage = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::AlertsManage))
    };
    let id = alert.id;
    let status = alert.status;
    let button = move |action: AlertAction, label: &'static str| {
        status.may_become(action.target()).then(|| view! {
            <button class="small" on:click=move |_| { update.dispatch(UpdateAlert { id, action }); }>
                {label}
            </button>
        })
    };
    view! {
        <tr class=format!("alert-row severity-{}", alert.severity.as_str().to_lowercase())>
            <td class="nowrap">{time_format::utc(alert.created_at)}</td>
            <td><span class=format!("pill sev-{}", alert.severity.as_str().to_lowercase())>{alert.severity.as_str()}</span></td>
            <td class="grow">
                <div class="alert-title">{alert.title}</div>
                <div class="alert-message">{alert.message}</div>
                {alert.link.filter(|l| l.starts_with('/')).map(|link| {
                    let label = if link.starts_with("/reviews/") { "Open the review" } else { "Show in Traffic Monitor" };
                    view! { <a class="alert-link" href=link>{label}</a> }
                })}
            </td>
            <td>{status.as_str()}
                {alert.acknowledged_by.map(|by| format!(" (ack: {by})"))}
                {alert.resolved_by.map(|by| format!(" (resolved: {by})"))}
            </td>
            <td class="actions-cell">
                <Show when=move || may_manage() && status != AlertStatus::Resolved>
                    {button(AlertAction::Acknowledge, "Acknowledge")}
                    {button(AlertAction::Resolve, "Resolve")}
                </Show>
            </td>
        </tr>
    }
}
