//! What every request handler and server function shares.

use crate::server::break_glass::BreakGlassService;
use crate::server::clock::SharedClock;
use crate::server::database::Pool;
use crate::server::events::EventHub;
use crate::server::shield::Shield;
use crate::server::watcher::Watcher;
use axum::extract::FromRef;
use chrono::TimeDelta;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

#[derive(Clone, Debug)]
pub struct Settings {
    pub session_lifetime: TimeDelta,
    /// Mark cookies `Secure` (when served over HTTPS).
    pub secure_cookies: bool,
}

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
    pub shield_mode: crate::server::shield::ModeSetting,
    /// The Session Watcher: its status and controls.
    pub watcher: Arc<Watcher>,
    /// The admins' management of operators.
    pub operators: crate::server::operators::Operators,
    /// The reviews of ended windows.
    pub reviews: crate::server::review::Reviews,
    pub settings: Arc<Settings>,
    /// Flips to `true` when the server shuts down; open event streams end then.
    pub shutdown: watch::Receiver<bool>,
    /// The live API keys seen so far, with their rate-limit buckets.
    pub api_keys: Arc<crate::server::api_keys::KeyRegistry>,
    /// The id of an operator some of whose sessions just ended: their open event streams
    /// check their session and close.
    pub sessions_ended: broadcast::Sender<i64>,
    /// How this replica hears the others on PostgreSQL (or `Embedded` on SQLite).
    pub link: watch::Receiver<crate::domain::Link>,
    /// An argon2id hash checked when a login names no operator, so timing does not tell.
    pub dummy_password_hash: Arc<str>,
}

impl AppState {
    /// Tells open event streams that sessions of `operator_id` have ended.
    pub fn sessions_ended(&self, operator_id: i64) {
        let _ = self.sessions_ended.send(operator_id);
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
