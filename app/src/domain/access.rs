//! Who may do what: roles, the permission table, and the caller every service is given.

use crate::domain::AppError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    SecurityManager,
    Operator,
    Viewer,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SecurityManager => "security_manager",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ROLES.into_iter().find(|r| r.as_str() == s)
    }

    pub fn can(self, permission: Permission) -> bool {
        PERMISSIONS
            .iter()
            .any(|(p, roles)| *p == permission && roles.contains(&self))
    }
}

pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::SecurityManager,
    Role::Operator,
    Role::Viewer,
    Role::Auditor,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    BreakGlassActivate,
    BreakGlassDeactivate,
    ShieldConfigure,
    AlertsManage,
    AuditRead,
    ApiKeysManage,
    BreakGlassReview,
    WatcherControl,
    OperatorsManage,
    BreakGlassAcknowledge,
    BreakGlassApprove,
    PolicyConfigure,
    NotificationsConfigure,
    TrafficRead,
    AlertsRead,
    StatusRead,
}

impl Permission {
    /// What the permission allows, as the 403 message says it.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::BreakGlassActivate => "activate break-glass",
            Permission::BreakGlassDeactivate => "deactivate break-glass",
            Permission::ShieldConfigure => "configure the shield",
            Permission::AlertsManage => "manage alerts",
            Permission::AuditRead => "read the audit trail",
            Permission::ApiKeysManage => "manage API keys",
            Permission::BreakGlassReview => "sign off break-glass reviews",
            Permission::WatcherControl => "control the Session Watcher",
            Permission::OperatorsManage => "manage operators",
            Permission::BreakGlassAcknowledge => "acknowledge a break-glass window",
            Permission::BreakGlassApprove => "approve or deny a break-glass request",
            Permission::PolicyConfigure => "set the break-glass policy",
            Permission::NotificationsConfigure => "configure notification channels",
            Permission::TrafficRead => "read the traffic records",
            Permission::AlertsRead => "read alerts",
            Permission::StatusRead => "read the break-glass, watcher and shield status",
        }
    }
}

/// The permission table, the one place that says which role may do what. Deactivation restores
/// safety, so it needs less privilege than activation.
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (
        Permission::BreakGlassActivate,
        &[Role::Admin, Role::SecurityManager],
    ),
    (
        Permission::BreakGlassDeactivate,
        &[Role::Admin, Role::SecurityManager, Role::Operator],
    ),
    (
        Permission::ShieldConfigure,
        &[Role::Admin, Role::SecurityManager],
    ),
    (
        Permission::AlertsManage,
        &[Role::Admin, Role::SecurityManager, Role::Operator],
    ),
    (
        Permission::AuditRead,
        &[Role::Admin, Role::SecurityManager, Role::Auditor],
    ),
    (Permission::ApiKeysManage, &[Role::Admin]),
    (
        Permission::BreakGlassReview,
        &[Role::Admin, Role::SecurityManager],
    ),
    (
        Permission::WatcherControl,
        &[Role::Admin, Role::SecurityManager],
    ),
    (Permission::OperatorsManage, &[Role::Admin]),
    // The second person who answers for a window: those who could have opened it.
    (
        Permission::BreakGlassAcknowledge,
        &[Role::Admin, Role::SecurityManager],
    ),
    // The second person who decides a request: those who could have activated.
    (
        Permission::BreakGlassApprove,
        &[Role::Admin, Role::SecurityManager],
    ),
    // The rules the second person works under are not set by those who activate.
    (Permission::PolicyConfigure, &[Role::Admin]),
    // Channels hold secrets and decide who hears of a window.
    (Permission::NotificationsConfigure, &[Role::Admin]),
    // Every role reads the traffic, the alerts and the status; stated here so that a role
    // could lose them.
    (Permission::TrafficRead, &ROLES),
    (Permission::AlertsRead, &ROLES),
    (Permission::StatusRead, &ROLES),
];

/// A logged-in operator, as the UI knows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

impl Operator {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.can(permission)
    }
}

/// Who is calling, and from where.
#[derive(Clone, Debug)]
pub struct Actor {
    pub operator: Operator,
    pub source_addr: Option<String>,
    pub token: String,
    /// When the caller's session ends by itself.
    pub session_expires_at: DateTime<Utc>,
}

impl Actor {
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.operator.can(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden(permission.describe().to_owned()))
        }
    }
}

/// What a key may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// `/v1/*`: the OpenAI-compatible gateway.
    #[serde(rename = "gateway")]
    Gateway,
    /// `POST /api/proxy/ingest`: traffic records from another proxy.
    #[serde(rename = "ingest")]
    Ingest,
    /// `POST /api/shield/scan` and reading the shield mode.
    #[serde(rename = "shield:scan")]
    ShieldScan,
    /// Reading the break-glass and Session Watcher status.
    #[serde(rename = "break_glass:read")]
    BreakGlassRead,
    /// Reading the audit trail (e.g. for a SIEM).
    #[serde(rename = "audit:read")]
    AuditRead,
}

pub const SCOPES: [Scope; 5] = [
    Scope::Gateway,
    Scope::Ingest,
    Scope::ShieldScan,
    Scope::BreakGlassRead,
    Scope::AuditRead,
];

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Gateway => "gateway",
            Scope::Ingest => "ingest",
            Scope::ShieldScan => "shield:scan",
            Scope::BreakGlassRead => "break_glass:read",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        SCOPES.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A key that authenticated a request, and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCaller {
    pub id: i64,
    pub scopes: Vec<Scope>,
}

impl KeyCaller {
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "use this API key for {} (it lacks the {} scope)",
                scope.as_str(),
                scope.as_str()
            )))
        }
    }
}

/// Who reads a route that tools may use too: an operator, or an API key.
#[derive(Clone, Debug)]
pub enum Reader {
    Operator(Actor),
    ApiKey(KeyCaller),
}

impl Reader {
    /// An operator must hold `permission`, a key must have `scope`.
    pub fn require(&self, permission: Permission, scope: Scope) -> Result<(), AppError> {
        match self {
            Reader::Operator(actor) => actor.require(permission),
            Reader::ApiKey(key) => key.require(scope),
        }
    }

    /// A key must have `scope`; every operator may read (their role decides elsewhere).
    pub fn require_scope(&self, scope: Scope) -> Result<(), AppError> {
        match self {
            Reader::Operator(_) => Ok(()),
            Reader::ApiKey(key) => key.require(scope),
        }
    }
}

/// An operator as the admins' list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAccount {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Sessions open now.
    pub sessions: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deactivation_needs_less_privilege_than_activation() {
        for role in ROLES {
            if role.can(Permission::BreakGlassActivate) {
                assert!(role.can(Permission::BreakGlassDeactivate), "{role:?}");
            }
        }
        assert!(Role::Operator.can(Permission::BreakGlassDeactivate));
        assert!(!Role::Operator.can(Permission::BreakGlassActivate));
        assert!(!Role::Viewer.can(Permission::BreakGlassDeactivate));
    }

    #[test]
    fn a_reader_needs_the_permission_as_an_operator_and_the_scope_as_a_key() {
        let operator = |role| {
            Reader::Operator(Actor {
                operator: Operator {
                    id: 1,
                    username: "ann".into(),
                    role,
                },
                source_addr: None,
                token: String::new(),
                session_expires_at: DateTime::<Utc>::MIN_UTC,
            })
        };
        let key = |scopes: &[Scope]| {
            Reader::ApiKey(KeyCaller {
                id: 1,
                scopes: scopes.to_vec(),
            })
        };
        let audit = |r: &Reader| r.require(Permission::AuditRead, Scope::AuditRead);
        assert!(audit(&operator(Role::Auditor)).is_ok());
        assert!(matches!(
            audit(&operator(Role::Operator)),
            Err(AppError::Forbidden(_))
        ));
        assert!(audit(&key(&[Scope::AuditRead])).is_ok());
        assert!(matches!(
            audit(&key(&[Scope::Gateway, Scope::BreakGlassRead])),
            Err(AppError::Forbidden(_))
        ));
        // A scope says nothing about an operator, a permission nothing about a key.
        assert!(operator(Role::Viewer)
            .require_scope(Scope::AuditRead)
            .is_ok());
        assert!(key(&[]).require_scope(Scope::AuditRead).is_err());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in ROLES {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
