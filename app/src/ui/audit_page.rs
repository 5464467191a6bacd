use crate::audit::{AuditEntry, ACTIONS};
use crate::error::AppError;
use crate::time_format;
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

#[server]
pub async fn list_audit(
    action: String,
    actor: String,
    from: String,
    to: String,
) -> Result<Vec<AuditEntry>, AppError> {
    crate::server_fn_result(
        async {
            let caller = crate::auth::current_actor().await?;
            caller.require(crate::auth::Permission::AuditRead)?;
            let filter = crate::audit::AuditFilter::from_form(&action, &actor, &from, &to)?;
            let state = expect_context::<crate::state::AppState>();
            Ok(crate::audit::list(&state.pool, &filter).await?)
        }
        .await,
    )
}

/// The audit trail with filters by action, actor and time range; the filters live in the URL.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let entries = Resource::new(
        move || (param("action"), param("actor"), param("from"), param("to")),
        |(action, actor, from, to)| list_audit(action, actor, from, to),
    );
    view! {
        <h1>"Audit Trail"</h1>
        <Form method="GET" action="" attr:class="filters">
            <label>"Action "
                <select name="action" prop:value=move || param("action")>
                    <option value="">"All"</option>
                    {ACTIONS.into_iter().map(|a| view! { <option value=a>{a}</option> }).collect_view()}
                </select>
            </label>
            <label>"Actor " <input name="actor" prop:value=move || param("actor")/></label>
            <label>"From (UTC) " <input type="datetime-local" name="from" prop:value=move || param("from")/></label>
            <label>"To (UTC) " <input type="datetime-local" name="to" prop:value=move || param("to")/></label>
            <button type="submit">"Filter"</button>
        </Form>
        <Transition fallback=|| view! { <p class="muted">"Loading the audit trail…"</p> }>
            {move || entries.get().map(|r| match r {
                Err(e) => view! { <p class="server-error" role="alert">{e.to_string()}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted">"No audit records match."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table" data-testid="audit-table">
                        <thead><tr>
                            <th>"Time"</th><th>"Actor"</th><th>"Action"</th><th>"Details"</th><th>"Source"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|e| view! {
                                <tr>
                                    <td class="nowrap">{time_format::utc(e.at)}</td>
                                    <td>{e.actor}</td>
                                    <td><code>{e.action}</code></td>
                                    <td class="details">{e.details.to_string()}</td>
                                    <td>{e.source_addr}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}
