//! The composition root's state: every service, built once in `lib.rs::start`. Handlers take
//! the parts they need from it; server functions get each service as its own context
//! (`provide_services`), never the whole.

use app::server::api_keys::KeyRegistry;
use app::server::auth::Sessions;
use app::server::break_glass::BreakGlassService;
use app::server::clock::SharedClock;
use app::server::database::Pool;
use app::server::events::EventHub;
use app::server::notifications::Notifications;
use app::server::operators::Operators;
use app::server::review::Reviews;
use app::server::shield::{ModeSetting, Shield};
use app::server::watcher::Watcher;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: Pool,
    pub clock: SharedClock,
    pub events: EventHub,
    pub break_glass: Arc<BreakGlassService>,
    /// The compiled rule pack, shared by every scan.
    pub shield: Arc<Shield>,
    /// OBSERVE or BLOCK, held in memory for the gateway and changed through the settings.
    pub shield_mode: ModeSetting,
    /// The Session Watcher: its status and controls.
    pub watcher: Arc<Watcher>,
    /// The admins' management of operators.
    pub operators: Operators,
    /// The reviews of ended windows.
    pub reviews: Reviews,
    /// The notification channels and the delivery log.
    pub notifications: Notifications,
    /// The file of the audit chain's checkpoints, if one is kept.
    pub audit_checkpoints: Option<Arc<std::path::PathBuf>>,
    /// Logins, logouts, the caller of a request, and where ended sessions are announced.
    pub sessions: Sessions,
    /// Flips to `true` when the server shuts down; open event streams end then.
    pub shutdown: watch::Receiver<bool>,
    /// The live API keys seen so far, with their rate-limit buckets.
    pub api_keys: Arc<KeyRegistry>,
    /// How this replica hears the others on PostgreSQL (or `Embedded` on SQLite).
    pub link: watch::Receiver<app::domain::Link>,
}

impl AppState {
    /// Gives the server functions of a request the services they call, each on its own.
    pub fn provide_services(&self) {
        provide_context(self.sessions.clone());
        provide_context(self.pool.clone());
        provide_context(self.clock.clone());
        provide_context(self.break_glass.clone());
        provide_context(self.operators.clone());
        provide_context(self.reviews.clone());
        provide_context(self.shield_mode.clone());
        provide_context(self.watcher.clone());
        provide_context(self.api_keys.clone());
        provide_context(self.notifications.clone());
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
