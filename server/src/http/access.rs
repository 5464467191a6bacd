//! Who may call what: every HTTP route and every server function with its access rule. The
//! router mounts exactly the routes of `ROUTES`, and the role × route test walks both tables
//! (and fails on a server function that has no rule here).

use app::api_keys::Scope;
use app::auth::Permission;

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

#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn e(method: &'static str, path: &'static str, access: Access) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
    }
}

use Access::*;
use Permission::*;

pub const ROUTES: &[Endpoint] = &[
    e("POST", "/api/auth/login", Public),
    e("POST", "/api/auth/logout", LoggedIn),
    e("POST", "/api/auth/logout-everywhere", LoggedIn),
    e("POST", "/api/auth/password", LoggedIn),
    e("GET", "/api/operators", Allowed(OperatorsManage)),
    e("POST", "/api/operators", Allowed(OperatorsManage)),
    e("POST", "/api/operators/{id}/role", Allowed(OperatorsManage)),
    e(
        "POST",
        "/api/operators/{id}/disable",
        Allowed(OperatorsManage),
    ),
    e(
        "POST",
        "/api/operators/{id}/enable",
        Allowed(OperatorsManage),
    ),
    e(
        "POST",
        "/api/operators/{id}/password",
        Allowed(OperatorsManage),
    ),
    e(
        "GET",
        "/api/break-glass/status",
        LoggedInOrKey(Scope::BreakGlassRead),
    ),
    e(
        "POST",
        "/api/break-glass/activate",
        Allowed(BreakGlassActivate),
    ),
    e(
        "POST",
        "/api/break-glass/deactivate",
        Allowed(BreakGlassDeactivate),
    ),
    e("POST", "/api/shield/scan", LoggedInOrKey(Scope::ShieldScan)),
    e("GET", "/api/shield/mode", LoggedInOrKey(Scope::ShieldScan)),
    e("PUT", "/api/shield/mode", Allowed(ShieldConfigure)),
    e("GET", "/api/keys", Allowed(ApiKeysManage)),
    e("POST", "/api/keys", Allowed(ApiKeysManage)),
    e("POST", "/api/keys/{id}/revoke", Allowed(ApiKeysManage)),
    e("POST", "/api/proxy/ingest", ApiKey(Scope::Ingest)),
    e("GET", "/api/traffic", LoggedIn),
    e("GET", "/api/traffic.csv", LoggedIn),
    e("GET", "/api/alerts", LoggedIn),
    e(
        "GET",
        "/api/audit",
        AllowedOrKey(AuditRead, Scope::AuditRead),
    ),
    e(
        "GET",
        "/api/watcher/status",
        LoggedInOrKey(Scope::BreakGlassRead),
    ),
    e("POST", "/api/watcher", Allowed(WatcherControl)),
    e("GET", "/api/reviews/{id}", Allowed(AuditRead)),
    e("GET", "/api/reviews/{id}/report.md", Allowed(AuditRead)),
    e("GET", "/api/reviews/{id}/report.json", Allowed(AuditRead)),
    e(
        "POST",
        "/api/reviews/{id}/sign-off",
        Allowed(BreakGlassReview),
    ),
    e("GET", "/api/events", LoggedIn),
    e("GET", "/events-worker.js", Public),
    e("GET", "/healthz", Public),
    e("GET", "/readyz", Public),
    e("GET", "/metrics", LoggedInOrKey(Scope::BreakGlassRead)),
    e("POST", "/v1/chat/completions", Gateway),
    e("POST", "/v1/embeddings", Gateway),
    e("GET", "/v1/models", Gateway),
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
    ("deactivate_break_glass", Allowed(BreakGlassDeactivate)),
    ("litellm_outage", LoggedIn),
    ("current_shield_mode", LoggedIn),
    ("set_shield_mode", Allowed(ShieldConfigure)),
    ("list_api_keys", Allowed(ApiKeysManage)),
    ("create_api_key", Allowed(ApiKeysManage)),
    ("revoke_api_key", Allowed(ApiKeysManage)),
    ("list_alerts", LoggedIn),
    ("update_alert", Allowed(AlertsManage)),
    ("list_audit", Allowed(AuditRead)),
    ("list_traffic", LoggedIn),
    ("load_traffic_chart", LoggedIn),
    ("list_windows", LoggedIn),
    ("load_watcher_status", LoggedIn),
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
