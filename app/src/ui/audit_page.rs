use crate::domain::audit::{AuditPage, ACTIONS};
use crate::domain::time_format;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

/// The query keys of the Audit Trail page, in the order its links write them.
const KEYS: [&str; 5] = ["action", "actor", "from", "to", "cursor"];

#[server]
pub async fn list_audit(
    action: String,
    actor: String,
    from: String,
    to: String,
    cursor: String,
) -> Result<AuditPage, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let caller =
                crate::domain::Reader::Operator(crate::server::auth::current_actor().await?);
            let given = [action, actor, from, to, cursor];
            let filter = crate::domain::audit::AuditFilter::parse(|k| {
                KEYS.iter()
                    .position(|key| *key == k)
                    .map(|i| given[i].clone())
            })?;
            crate::server::audit_trail::list(&pool, &caller, &filter).await
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
        move || KEYS.map(param),
        |[action, actor, from, to, cursor]| list_audit(action, actor, from, to, cursor),
    );
    // This page's filters with `cursor` in place of the current one.
    let href = move |cursor: Option<String>| {
        let query: Vec<String> = KEYS
            .iter()
            .filter_map(|k| {
                let v = if *k == "cursor" {
                    cursor.clone().unwrap_or_default()
                } else {
                    param(k)
                };
                (!v.is_empty())
                    .then(|| format!("{k}={}", crate::domain::paging::encode_component(&v)))
            })
            .collect();
        format!("/audit?{}", query.join("&"))
    };
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
                Ok(page) if page.entries.is_empty() => view! { <p class="muted">"No audit records match."</p> }.into_any(),
                Ok(page) => view! {
                    <div class="table-wrap"><table class="table" data-testid="audit-table">
                        <thead><tr>
                            <th>"Time"</th><th>"Actor"</th><th>"Action"</th><th>"Details"</th><th>"Source"</th>
                        </tr></thead>
                        <tbody>
                            {page.entries.into_iter().map(|e| view! {
                                <tr>
                                    <td class="nowrap">{time_format::utc(e.at)}</td>
                                    <td>{e.actor}</td>
                                    <td><code>{e.action}</code></td>
                                    <td class="details">{e.details.to_string()}</td>
                                    <td>{e.source_addr}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                    <p class="pager">
                        {(!param("cursor").is_empty()).then(|| view! { <A href=href(None)>"← Newest"</A> })}
                        {page.has_more.then(|| view! { <A href=href(page.next_cursor)>"Older →"</A> })}
                    </p>
                }.into_any(),
            })}
        </Transition>
    }
}
