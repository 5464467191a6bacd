use crate::domain::AppError;
use leptos::prelude::*;

#[server]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    crate::server::server_fn_result(
        async {
            let sessions = expect_context::<crate::server::auth::Sessions>();
            let opts = expect_context::<leptos_axum::ResponseOptions>();
            let addr = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .await
                .ok()
                .map(|c| c.0.ip().to_string());
            let raw = crate::domain::operators::LoginRequest::from_form(username, password);
            let (_, token) = sessions.login(raw, addr.as_deref()).await?;
            let cookie = sessions.cookie(&token);
            if let Ok(v) = http::HeaderValue::from_str(&cookie) {
                opts.append_header(http::header::SET_COOKIE, v);
            }
            leptos_axum::redirect("/configuration");
            Ok(())
        }
        .await,
    )
}

#[server]
pub async fn logout() -> Result<(), AppError> {
    crate::server::server_fn_result(
        async {
            let sessions = expect_context::<crate::server::auth::Sessions>();
            let opts = expect_context::<leptos_axum::ResponseOptions>();
            let actor = crate::server::auth::current_actor().await?;
            sessions
                .logout(&actor.token, &actor.operator, actor.source_addr.as_deref())
                .await?;
            if let Ok(v) = http::HeaderValue::from_str(&sessions.clearing_cookie()) {
                opts.append_header(http::header::SET_COOKIE, v);
            }
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    view! {
        <main class="login">
            <h1>"breakglass"</h1>
            <ActionForm action=login attr:class="card login-card">
                <h2>"Log in"</h2>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <p class="server-error" role="alert" data-testid="login-error">
                    {move || login.value().get().and_then(|r| r.err()).map(|e| e.to_string())}
                </p>
                <button type="submit" disabled=move || login.pending().get()>"Log in"</button>
            </ActionForm>
        </main>
    }
}
