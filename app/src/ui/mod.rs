//! The pages and the components that every page shares.

mod account;
mod activation_dialog;
mod alerts_page;
mod api_keys;
mod audit_page;
mod banner;
mod break_glass_policy;
mod configuration;
mod layout;
mod live;
mod login;
mod notification_channels;
mod operators;
mod review_page;
mod shield_settings;
mod traffic_chart;
mod traffic_page;
mod watcher_panel;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{ParamSegment, StaticSegment};

pub use account::{ChangePassword, LogoutEverywhere};
pub use activation_dialog::{ActivateBreakGlass, RequestBreakGlass};
pub use alerts_page::{ListAlerts, UpdateAlert};
pub use api_keys::{CreateApiKey, ListApiKeys, RevokeApiKey};
pub use audit_page::ListAudit;
pub use banner::{
    AcknowledgeBreakGlass, ApproveBreakGlass, DeactivateBreakGlass, DenyBreakGlass,
    ExtendBreakGlass,
};
pub use break_glass_policy::{LoadPolicy, SetPolicy};
pub use live::{Live, WhoAmI};
pub use login::{Login, Logout};
pub use notification_channels::{
    AddChannel, ListChannels, ListDeliveries, RemoveChannel, TestChannel,
};
pub use operators::{ChangeOperator, CreateOperator, ListOperators};
pub use review_page::{LoadReview, SignOffReview, WindowsAwaitingReview};
pub use shield_settings::{CurrentShieldMode, SetShieldMode};
pub use traffic_page::{ListTraffic, ListWindows, LoadTrafficChart};
pub use watcher_panel::{ControlWatcher, LoadWatcherStatus};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/breakglass.css"/>
        <Title text="breakglass"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                <Route path=StaticSegment("login") view=login::LoginPage/>
                <ParentRoute path=StaticSegment("") view=layout::Layout>
                    <Route path=StaticSegment("configuration") view=configuration::ConfigurationPage/>
                    <Route path=StaticSegment("traffic") view=traffic_page::TrafficPage/>
                    <Route path=StaticSegment("alerts") view=alerts_page::AlertsPage/>
                    <Route path=StaticSegment("audit") view=audit_page::AuditPage/>
                    <Route path=(StaticSegment("reviews"), ParamSegment("id")) view=review_page::ReviewPage/>
                    <Route path=StaticSegment("") view=|| view! { <Redirect path="/configuration"/> }/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// A count with the noun it counts: "1 file", "2 files".
fn counted<N: PartialEq + From<u8> + std::fmt::Display>(n: N, one: &str, many: &str) -> String {
    let noun = if n == N::from(1) { one } else { many };
    format!("{n} {noun}")
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_of_a_thing_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1u64, "error", "errors"), "1 error");
        assert_eq!(counted(0u64, "error", "errors"), "0 errors");
        assert_eq!(counted(-1i64, "error", "errors"), "-1 errors");
        assert_eq!(
            counted(2i64, "bypassed request", "bypassed requests"),
            "2 bypassed requests"
        );
    }
}
