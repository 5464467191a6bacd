use crate::audit::{AuditEntry, AuditFilter, ACTIONS};
use crate::break_glass::{Field, FieldError};
use crate::error::AppError;
use crate::time_format;
use chrono::{DateTime, NaiveDateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

/// Parses a `datetime-local` value (taken as UTC); empty means no bound.
pub fn parse_bound(field: Field, raw: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "{} must be a date and time like 2026-11-27T14:30 (UTC)",
                    if field == Field::From { "From" } else { "To" }
                ),
            )
        })
}

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
            let filter = AuditFilter {
                action: Some(action).filter(|a| !a.is_empty()),
                actor: Some(actor).filter(|a| !a.is_empty()),
                from: parse_bound(Field::From, &from)?,
                to: parse_bound(Field::To, &to)?,
                limit: None,
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse_as_utc_or_name_the_field() {
        assert_eq!(parse_bound(Field::From, "").unwrap(), None);
        let t = parse_bound(Field::From, "2026-11-27T14:30").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T14:30:00+00:00");
        let err = parse_bound(Field::To, "yesterday").unwrap_err();
        assert_eq!(err.field, Field::To);
        assert!(err.message.starts_with("To must be"));
    }
}
