//! Who may call what: every HTTP route with its access rule and its handler, and every server
//! function with its access rule. The router mounts exactly the routes of `ROUTES`, with the
//! handlers named here, and the role × route test walks both tables (and fails on a server
//! function that has no rule here).

use super::{
    alerts, api_keys, audit, auth, break_glass, events, health, metrics, notifications, operators,
    review, shield, traffic, watcher,
};
use crate::gateway;
use crate::state::AppState;
use app::domain::Permission;
use app::domain::Scope;
use axum::routing::{get, post, put, MethodRouter};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the login, the worker script, the health checks).
    Public,
    /// Any logged-in operator, whatever the role.
    LoggedIn,
    /// A logged-in operator, or an API key with the scope.
    LoggedInOrKey(Scope),
    /// Only an API key with the scope; an operator's session is refused with 403.
    ApiKey(Scope),
    /// The OpenAI-compatible gateway: only an API key; anything else is 401.
    Gateway,
    /// A logged-in operator whose role has the permission.
    Allowed(Permission),
    /// A logged-in operator whose role has the permission, or an API key with the scope.
    AllowedOrKey(Permission, Scope),
}

/// What serves a route: an HTTP adapter on the app's state (`Api`), or the gateway agents
/// call, on its own state (`Agent`).
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    Api(fn() -> MethodRouter<AppState>),
    Agent(fn() -> MethodRouter<gateway::Gateway>),
}

#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

const fn e(method: &'static str, path: &'static str, access: Access, handler: Handler) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        handler,
    }
}

use Access::*;
use Handler::*;
use Permission::*;

pub const ROUTES: &[Endpoint] = &[
    e("POST", "/api/auth/login", Public, Api(|| post(auth::login))),
    e(
        "POST",
        "/api/auth/logout",
        LoggedIn,
        Api(|| post(auth::logout)),
    ),
    e(
        "POST",
        "/api/auth/logout-everywhere",
        LoggedIn,
        Api(|| post(operators::logout_everywhere)),
    ),
    e(
        "POST",
        "/api/auth/password",
        LoggedIn,
        Api(|| post(operators::change_own_password)),
    ),
    e(
        "GET",
        "/api/operators",
        Allowed(OperatorsManage),
        Api(|| get(operators::list)),
    ),
    e(
        "POST",
        "/api/operators",
        Allowed(OperatorsManage),
        Api(|| post(operators::create)),
    ),
    e(
        "POST",
        "/api/operators/{id}/role",
        Allowed(OperatorsManage),
        Api(|| post(operators::set_role)),
    ),
    e(
        "POST",
        "/api/operators/{id}/disable",
        Allowed(OperatorsManage),
        Api(|| post(operators::disable)),
    ),
    e(
        "POST",
        "/api/operators/{id}/enable",
        Allowed(OperatorsManage),
        Api(|| post(operators::enable)),
    ),
    e(
        "POST",
        "/api/operators/{id}/password",
        Allowed(OperatorsManage),
        Api(|| post(operators::reset_password)),
    ),
    e(
        "GET",
        "/api/break-glass/status",
        AllowedOrKey(StatusRead, Scope::BreakGlassRead),
        Api(|| get(break_glass::status)),
    ),
    e(
        "POST",
        "/api/break-glass/activate",
        Allowed(BreakGlassActivate),
        Api(|| post(break_glass::activate)),
    ),
    e(
        "POST",
        "/api/break-glass/request",
        Allowed(BreakGlassActivate),
        Api(|| post(break_glass::request)),
    ),
    e(
        "POST",
        "/api/break-glass/drill",
        Allowed(BreakGlassActivate),
        Api(|| post(break_glass::drill)),
    ),
    e(
        "GET",
        "/api/break-glass/scope-keys",
        Allowed(BreakGlassActivate),
        Api(|| get(break_glass::scope_keys)),
    ),
    e(
        "POST",
        "/api/break-glass/approve",
        Allowed(BreakGlassApprove),
        Api(|| post(break_glass::approve)),
    ),
    e(
        "POST",
        "/api/break-glass/deny",
        Allowed(BreakGlassApprove),
        Api(|| post(break_glass::deny)),
    ),
    e(
        "GET",
        "/api/break-glass/policy",
        AllowedOrKey(StatusRead, Scope::BreakGlassRead),
        Api(|| get(break_glass::policy)),
    ),
    e(
        "PUT",
        "/api/break-glass/policy",
        Allowed(PolicyConfigure),
        Api(|| put(break_glass::set_policy)),
    ),
    e(
        "POST",
        "/api/break-glass/acknowledge",
        Allowed(BreakGlassAcknowledge),
        Api(|| post(break_glass::acknowledge)),
    ),
    e(
        "POST",
        "/api/break-glass/extend",
        Allowed(BreakGlassActivate),
        Api(|| post(break_glass::extend)),
    ),
    e(
        "POST",
        "/api/break-glass/deactivate",
        Allowed(BreakGlassDeactivate),
        Api(|| post(break_glass::deactivate)),
    ),
    e(
        "POST",
        "/api/shield/scan",
        LoggedInOrKey(Scope::ShieldScan),
        Api(|| post(shield::scan)),
    ),
    e(
        "GET",
        "/api/shield/mode",
        AllowedOrKey(StatusRead, Scope::ShieldScan),
        Api(|| get(shield::mode)),
    ),
    e(
        "PUT",
        "/api/shield/mode",
        Allowed(ShieldConfigure),
        Api(|| put(shield::set_mode)),
    ),
    e(
        "GET",
        "/api/keys",
        Allowed(ApiKeysManage),
        Api(|| get(api_keys::list)),
    ),
    e(
        "POST",
        "/api/keys",
        Allowed(ApiKeysManage),
        Api(|| post(api_keys::create)),
    ),
    e(
        "POST",
        "/api/keys/{id}/revoke",
        Allowed(ApiKeysManage),
        Api(|| post(api_keys::revoke)),
    ),
    e(
        "GET",
        "/api/notifications/channels",
        Allowed(NotificationsConfigure),
        Api(|| get(notifications::list)),
    ),
    e(
        "POST",
        "/api/notifications/channels",
        Allowed(NotificationsConfigure),
        Api(|| post(notifications::add)),
    ),
    e(
        "POST",
        "/api/notifications/channels/{id}/remove",
        Allowed(NotificationsConfigure),
        Api(|| post(notifications::remove)),
    ),
    e(
        "POST",
        "/api/notifications/channels/{id}/test",
        Allowed(NotificationsConfigure),
        Api(|| post(notifications::test)),
    ),
    e(
        "GET",
        "/api/notifications/deliveries",
        Allowed(AlertsRead),
        Api(|| get(notifications::deliveries)),
    ),
    e(
        "POST",
        "/api/proxy/ingest",
        ApiKey(Scope::Ingest),
        Api(|| post(traffic::ingest)),
    ),
    e(
        "GET",
        "/api/traffic",
        Allowed(TrafficRead),
        Api(|| get(traffic::list)),
    ),
    e(
        "GET",
        "/api/traffic.csv",
        Allowed(TrafficRead),
        Api(|| get(traffic::csv)),
    ),
    e(
        "GET",
        "/api/alerts",
        Allowed(AlertsRead),
        Api(|| get(alerts::list)),
    ),
    e(
        "GET",
        "/api/audit",
        AllowedOrKey(AuditRead, Scope::AuditRead),
        Api(|| get(audit::list)),
    ),
    e(
        "GET",
        "/api/audit/verify",
        AllowedOrKey(AuditRead, Scope::AuditRead),
        Api(|| get(audit::verify)),
    ),
    e(
        "GET",
        "/api/audit/export",
        AllowedOrKey(AuditRead, Scope::AuditRead),
        Api(|| get(audit::export)),
    ),
    e(
        "GET",
        "/api/watcher/status",
        AllowedOrKey(StatusRead, Scope::BreakGlassRead),
        Api(|| get(watcher::status)),
    ),
    e(
        "POST",
        "/api/watcher",
        Allowed(WatcherControl),
        Api(|| post(watcher::control)),
    ),
    e(
        "GET",
        "/api/reviews/{id}",
        Allowed(AuditRead),
        Api(|| get(review::show)),
    ),
    e(
        "GET",
        "/api/reviews/{id}/report.md",
        Allowed(AuditRead),
        Api(|| get(review::markdown)),
    ),
    e(
        "GET",
        "/api/reviews/{id}/report.json",
        Allowed(AuditRead),
        Api(|| get(review::json_report)),
    ),
    e(
        "POST",
        "/api/reviews/{id}/sign-off",
        Allowed(BreakGlassReview),
        Api(|| post(review::sign_off)),
    ),
    e(
        "GET",
        "/api/events",
        Allowed(StatusRead),
        Api(|| get(events::stream)),
    ),
    e(
        "GET",
        "/events-worker.js",
        Public,
        Api(|| get(events::worker_script)),
    ),
    e("GET", "/healthz", Public, Api(|| get(health::live))),
    e("GET", "/readyz", Public, Api(|| get(health::ready))),
    e(
        "GET",
        "/metrics",
        AllowedOrKey(StatusRead, Scope::BreakGlassRead),
        Api(|| get(metrics::render)),
    ),
    e(
        "POST",
        "/v1/chat/completions",
        Gateway,
        Agent(|| post(gateway::chat_completions)),
    ),
    e(
        "POST",
        "/v1/embeddings",
        Gateway,
        Agent(|| post(gateway::embeddings)),
    ),
    e("GET", "/v1/models", Gateway, Agent(|| get(gateway::models))),
];

/// Every page of the UI's router, with its rule: what a page shows is read through server
/// functions, which check their own rules, so a page needs a session at most. The page guard
/// applies these rules, and the role × route test checks that the router has exactly these
/// pages.
pub const PAGES: &[(&str, Access)] = &[
    ("/login", Public),
    ("/", LoggedIn),
    ("/configuration", LoggedIn),
    ("/traffic", LoggedIn),
    ("/alerts", LoggedIn),
    ("/audit", LoggedIn),
    ("/reviews/{id}", LoggedIn),
];

/// The server functions the pages call, by name, with the rule each enforces.
pub const SERVER_FNS: &[(&str, Access)] = &[
    ("login", Public),
    ("logout", LoggedIn),
    ("who_am_i", LoggedIn),
    ("logout_everywhere", LoggedIn),
    ("change_password", LoggedIn),
    ("list_operators", Allowed(OperatorsManage)),
    ("create_operator", Allowed(OperatorsManage)),
    ("change_operator", Allowed(OperatorsManage)),
    ("activate_break_glass", Allowed(BreakGlassActivate)),
    ("request_break_glass", Allowed(BreakGlassActivate)),
    ("start_drill", Allowed(BreakGlassActivate)),
    ("scope_keys", Allowed(BreakGlassActivate)),
    ("approve_break_glass", Allowed(BreakGlassApprove)),
    ("deny_break_glass", Allowed(BreakGlassApprove)),
    ("extend_break_glass", Allowed(BreakGlassActivate)),
    ("acknowledge_break_glass", Allowed(BreakGlassAcknowledge)),
    ("load_policy", Allowed(StatusRead)),
    ("set_policy", Allowed(PolicyConfigure)),
    ("deactivate_break_glass", Allowed(BreakGlassDeactivate)),
    ("litellm_outage", Allowed(AlertsRead)),
    ("current_shield_mode", Allowed(StatusRead)),
    ("set_shield_mode", Allowed(ShieldConfigure)),
    ("list_api_keys", Allowed(ApiKeysManage)),
    ("create_api_key", Allowed(ApiKeysManage)),
    ("revoke_api_key", Allowed(ApiKeysManage)),
    ("list_channels", Allowed(NotificationsConfigure)),
    ("add_channel", Allowed(NotificationsConfigure)),
    ("remove_channel", Allowed(NotificationsConfigure)),
    ("test_channel", Allowed(NotificationsConfigure)),
    ("list_deliveries", Allowed(AlertsRead)),
    ("list_alerts", Allowed(AlertsRead)),
    ("update_alert", Allowed(AlertsManage)),
    ("list_audit", Allowed(AuditRead)),
    ("list_traffic", Allowed(TrafficRead)),
    ("load_traffic_chart", Allowed(TrafficRead)),
    ("list_windows", Allowed(TrafficRead)),
    ("load_watcher_status", Allowed(StatusRead)),
    ("control_watcher", Allowed(WatcherControl)),
    ("load_review", Allowed(AuditRead)),
    ("sign_off_review", Allowed(BreakGlassReview)),
    ("windows_awaiting_review", Allowed(AuditRead)),
];

/// The rule of the server function at `path` (`/api/<name><hash>`).
pub fn server_fn_rule(path: &str) -> Option<(&'static str, Access)> {
    let name = path
        .strip_prefix("/api/")?
        .trim_end_matches(|c: char| c.is_ascii_digit());
    SERVER_FNS.iter().find(|(n, _)| *n == name).copied()
}
