//! The Your Account card: change one's own password, log out everywhere.

use crate::domain::AppError;
use leptos::prelude::*;

#[server]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    use crate::domain::Field;
    crate::server::server_fn_result(
        async {
            let operators = expect_context::<crate::server::operators::Operators>();
            let actor = crate::server::auth::current_actor().await?;
            let new =
                crate::domain::operators::NewPassword::parse(Field::NewPassword, &new_password)?;
            operators
                .change_own_password(&actor, &current_password, &new)
                .await
        }
        .await,
    )
}

#[server]
pub async fn logout_everywhere() -> Result<(), AppError> {
    crate::server::server_fn_result(
        async {
            let operators = expect_context::<crate::server::operators::Operators>();
            let actor = crate::server::auth::current_actor().await?;
            operators.logout_everywhere(&actor).await?;
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

#[component]
pub fn AccountCard() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let everywhere = ServerAction::<LogoutEverywhere>::new();
    view! {
        <section class="card" aria-labelledby="account-title" data-testid="account-card">
            <h2 id="account-title">"Your Account"</h2>
            <ActionForm action=change attr:class="inline-form wrap">
                <label for="current-password">"Current password"</label>
                <input id="current-password" name="current_password" type="password" required autocomplete="current-password"/>
                <label for="new-password">"New password (12+ characters)"</label>
                <input id="new-password" name="new_password" type="password" required autocomplete="new-password"/>
                <button type="submit">"Change password"</button>
            </ActionForm>
            {move || change.value().get().map(|r| match r {
                Ok(()) => view! { <p role="status">"Password changed; your other sessions have ended."</p> }.into_any(),
                Err(e) => view! { <p class="server-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
            <ActionForm action=everywhere attr:class="inline-form">
                <button type="submit">"Log out everywhere"</button>
            </ActionForm>
        </section>
    }
}
