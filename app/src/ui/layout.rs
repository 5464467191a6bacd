use super::banner::BreakGlassBanner;
use super::live::{provide_live, Live};
use super::login::Logout;
use crate::domain::Permission;
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// Navigation, the banner above every page, and the page itself.
#[component]
pub fn Layout() -> impl IntoView {
    let live = provide_live();
    view! {
        <BreakGlassBanner/>
        <header class="topbar">
            <span class="brand">"breakglass"</span>
            <nav aria-label="Main">
                <A href="/configuration">"Configuration"</A>
                <A href="/traffic">"Traffic Monitor"</A>
                <A href="/alerts">"Alerts"</A>
                <Show when=move || live.me.get().is_some_and(|me| me.can(Permission::AuditRead))>
                    <A href="/audit">"Audit Trail"</A>
                </Show>
            </nav>
            <SignedInAs live/>
        </header>
        <main class="page">
            <Outlet/>
        </main>
    }
}

#[component]
fn SignedInAs(live: Live) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <div class="signed-in">
            <span class="live-dot" class:connected=move || live.connected.get()
                title=move || if live.connected.get() { "Live updates connected" } else { "Live updates disconnected" }>
            </span>
            {move || live.me.get().map(|me| view! {
                <span data-testid="signed-in-as">{me.username}" ("{me.role.as_str()}")"</span>
            })}
            <ActionForm action=logout>
                <button type="submit" class="link">"Log out"</button>
            </ActionForm>
        </div>
    }
}
