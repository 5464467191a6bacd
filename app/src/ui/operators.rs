//! The Operators card (admins): create operators, change roles, disable, reset passwords.

use super::live::Live;
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::OperatorAccount;
use crate::domain::{Permission, ROLES};
use leptos::prelude::*;

#[server]
pub async fn list_operators() -> Result<Vec<OperatorAccount>, AppError> {
    crate::server::server_fn_result(
        async {
            let operators = expect_context::<crate::server::operators::Operators>();
            let actor = crate::server::auth::current_actor().await?;
            operators.list(&actor).await
        }
        .await,
    )
}

#[server]
pub async fn create_operator(
    username: String,
    password: String,
    role: String,
) -> Result<OperatorAccount, AppError> {
    use crate::domain::operators::{NewOperator, NewOperatorRequest};
    crate::server::server_fn_result(
        async {
            let operators = expect_context::<crate::server::operators::Operators>();
            let actor = crate::server::auth::current_actor().await?;
            let new =
                NewOperator::try_from(NewOperatorRequest::from_form(username, password, role))?;
            operators.create(&actor, &new).await
        }
        .await,
    )
}

/// One change to an operator: `role` (with `value`), `disable`, `enable` or `password` (with
/// `value`).
#[server]
pub async fn change_operator(
    id: i64,
    change: String,
    value: Option<String>,
) -> Result<OperatorAccount, AppError> {
    use crate::domain::operators::{parse_role, NewPassword};
    use crate::domain::{Field, FieldError};
    crate::server::server_fn_result(
        async {
            let operators = expect_context::<crate::server::operators::Operators>();
            let actor = crate::server::auth::current_actor().await?;
            let value = value.unwrap_or_default();
            match change.as_str() {
                "role" => operators.set_role(&actor, id, parse_role(&value)?).await,
                "disable" => operators.set_disabled(&actor, id, true).await,
                "enable" => operators.set_disabled(&actor, id, false).await,
                "password" => {
                    let password = NewPassword::parse(Field::Password, &value)?;
                    operators.reset_password(&actor, id, &password).await
                }
                _ => Err(FieldError::new(
                    Field::Action,
                    "Change must be role, disable, enable or password",
                )
                .into()),
            }
        }
        .await,
    )
}

#[component]
pub fn OperatorsCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let may_manage = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::OperatorsManage))
    };
    view! {
        <Show when=may_manage>
            <OperatorsList/>
        </Show>
    }
}

#[component]
fn OperatorsList() -> impl IntoView {
    let create = ServerAction::<CreateOperator>::new();
    let change = ServerAction::<ChangeOperator>::new();
    let operators = Resource::new(
        move || (create.version().get(), change.version().get()),
        |_| list_operators(),
    );
    view! {
        <section class="card wide" aria-labelledby="operators-title" data-testid="operators-card">
            <h2 id="operators-title">"Operators"</h2>
            <ActionForm action=create attr:class="inline-form wrap">
                <label for="op-username">"Username"</label>
                <input id="op-username" name="username" required autocomplete="off"/>
                <label for="op-password">"Password"</label>
                <input id="op-password" name="password" type="password" required autocomplete="new-password"/>
                <label for="op-role">"Role"</label>
                <select id="op-role" name="role">
                    {ROLES.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                </select>
                <button type="submit">"Create operator"</button>
            </ActionForm>
            {move || create.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="server-error" role="alert">{e.to_string()}</p>
            })}
            {move || change.value().get().and_then(|r| r.err()).map(|e| view! {
                <p class="server-error" role="alert">{e.to_string()}</p>
            })}
            <Transition fallback=|| view! { <p class="muted">"Loading operators…"</p> }>
                {move || operators.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap"><table class="table" data-testid="operators-table">
                            <thead><tr><th>"Operator"</th><th>"Role"</th><th>"State"</th><th>"Sessions"</th><th>"Password"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|o| view! { <OperatorRow operator=o change/> }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn OperatorRow(operator: OperatorAccount, change: ServerAction<ChangeOperator>) -> impl IntoView {
    let id = operator.id;
    let role = operator.role.as_str();
    let name = operator.username.clone();
    let role_label = format!("Role of {name}");
    let password_label = format!("New password for {name}");
    let (toggle, toggle_label) = if operator.disabled {
        ("enable", "Enable")
    } else {
        ("disable", "Disable")
    };
    view! {
        <tr data-testid=format!("operator-{name}")>
            <td>{name.clone()}<div class="muted">"since " {time_format::utc(operator.created_at)}</div></td>
            <td>
                <select
                    aria-label=role_label
                    on:change=move |ev| {
                        change.dispatch(ChangeOperator { id, change: "role".into(), value: Some(event_target_value(&ev)) });
                    }
                >
                    {ROLES.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=r.as_str() == role>{r.as_str()}</option>
                    }).collect_view()}
                </select>
            </td>
            <td>
                {if operator.disabled { "disabled" } else { "enabled" }}
                " "
                <button class="small" on:click=move |_| {
                    change.dispatch(ChangeOperator { id, change: toggle.into(), value: None });
                }>{toggle_label}</button>
            </td>
            <td>{operator.sessions}</td>
            <td>
                <ActionForm action=change attr:class="inline-form">
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="change" value="password"/>
                    <input name="value" type="password" autocomplete="new-password" required
                        aria-label=password_label/>
                    <button class="small" type="submit">"Reset"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
