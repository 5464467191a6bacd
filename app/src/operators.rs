//! Operator accounts: who may log in and with which role; managed by admins, each operator
//! changes their own password.

use crate::domain::Role;
use crate::domain::{Field, FieldError, WireField};
use serde::{Deserialize, Serialize};

/// A login name: 3 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let n = name.chars().count();
        if !(3..=64).contains(&n) {
            return Err(FieldError::new(
                Field::Username,
                "Username must be 3 to 64 characters",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(FieldError::new(
                Field::Username,
                "Username may contain only letters, digits, '.', '_', '-' and '@'",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password an operator may set: 12 to 256 characters, not only spaces.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(field: Field, raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS || raw.trim().is_empty() {
            Err(FieldError::new(
                field,
                format!("Password must be at least {} characters", Self::MIN_CHARS),
            ))
        } else if n > Self::MAX_CHARS {
            Err(FieldError::new(
                field,
                format!("Password must be at most {} characters", Self::MAX_CHARS),
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a role name, naming the field.
pub fn parse_role(raw: &str) -> Result<Role, FieldError> {
    Role::parse(raw.trim()).ok_or_else(|| {
        FieldError::new(
            Field::Role,
            "Role must be admin, security_manager, operator, viewer or auditor",
        )
    })
}

/// A new operator as either door receives it: the Operators page's server function or
/// `POST /api/operators`. A field may be missing or of the wrong type.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewOperatorRequest {
    #[serde(default)]
    pub username: Option<WireField>,
    #[serde(default)]
    pub password: Option<WireField>,
    #[serde(default)]
    pub role: Option<WireField>,
}

impl NewOperatorRequest {
    /// The form's fields, as typed.
    pub fn from_form(username: String, password: String, role: String) -> Self {
        Self {
            username: Some(WireField::Text(username)),
            password: Some(WireField::Text(password)),
            role: Some(WireField::Text(role)),
        }
    }
}

/// A new operator, checked: built only by `NewOperator::try_from(NewOperatorRequest)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOperator {
    pub username: Username,
    pub password: NewPassword,
    pub role: Role,
}

impl TryFrom<NewOperatorRequest> for NewOperator {
    type Error = FieldError;

    /// Username, then password, then role: the first that is missing, mistyped or invalid is
    /// the one named (a value that is not text is judged as empty text).
    fn try_from(raw: NewOperatorRequest) -> Result<Self, FieldError> {
        let text = |field: Option<WireField>| match field {
            Some(WireField::Text(text)) => text,
            _ => String::new(),
        };
        Ok(Self {
            username: Username::parse(&text(raw.username))?,
            password: NewPassword::parse(Field::Password, &text(raw.password))?,
            role: parse_role(&text(raw.role))?,
        })
    }
}

/// At most this many sessions per operator; a new login ends the oldest beyond it.
pub const MAX_SESSIONS: i64 = 5;

#[cfg(feature = "ssr")]
pub use store::{ids, Operators};

#[cfg(feature = "ssr")]
mod store {
    use super::{NewOperator, NewPassword};
    use crate::audit;
    use crate::clock::SharedClock;
    use crate::database::Pool;
    use crate::domain::AppError;
    use crate::domain::OperatorAccount;
    use crate::domain::{Actor, Permission, Role};
    use crate::server::{secrets, store};
    use tokio::sync::broadcast;

    /// Every operator's id.
    pub async fn ids(pool: &crate::database::Pool) -> Result<Vec<i64>, sqlx::Error> {
        store::operators::ids(pool).await
    }

    /// The admins' management of operators: what it needs is the store, the clock, and where
    /// to say that an operator's sessions ended (their open event streams close).
    #[derive(Clone)]
    pub struct Operators {
        pool: Pool,
        clock: SharedClock,
        sessions_ended: broadcast::Sender<i64>,
    }

    impl Operators {
        pub fn new(pool: Pool, clock: SharedClock, sessions_ended: broadcast::Sender<i64>) -> Self {
            Self {
                pool,
                clock,
                sessions_ended,
            }
        }

        fn sessions_ended(&self, operator_id: i64) {
            let _ = self.sessions_ended.send(operator_id);
        }

        pub async fn list(&self, actor: &Actor) -> Result<Vec<OperatorAccount>, AppError> {
            actor.require(Permission::OperatorsManage)?;
            Ok(store::operators::accounts(&self.pool, self.clock.now()).await?)
        }

        async fn get(&self, id: i64) -> Result<OperatorAccount, AppError> {
            get_in(&mut *self.pool.acquire().await?, id, self.clock.now()).await
        }

        pub async fn create(
            &self,
            actor: &Actor,
            new: &NewOperator,
        ) -> Result<OperatorAccount, AppError> {
            actor.require(Permission::OperatorsManage)?;
            let NewOperator {
                username,
                password,
                role,
            } = new;
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let hash = secrets::hash_password(password.as_str());
            let id =
                store::operators::insert(&mut tx, username.as_str(), &hash, role.as_str(), now)
                    .await?;
            let Some(id) = id else {
                return Err(AppError::Conflict(format!(
                    "An operator named {} exists already",
                    username.as_str()
                )));
            };
            audit::record(
                &mut tx,
                now,
                &actor.operator.username,
                audit::OPERATOR_CREATE,
                serde_json::json!({ "operator": username.as_str(), "role": role.as_str() }),
                actor.source_addr.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.get(id).await
        }

        pub async fn set_role(
            &self,
            actor: &Actor,
            id: i64,
            role: Role,
        ) -> Result<OperatorAccount, AppError> {
            actor.require(Permission::OperatorsManage)?;
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            take_operators_lock(&mut tx).await?;
            let before = get_in(&mut tx, id, now).await?;
            store::operators::set_role(&mut tx, id, role.as_str()).await?;
            keeps_an_admin(&mut tx).await?;
            audit::record(
                &mut tx,
                now,
                &actor.operator.username,
                audit::OPERATOR_ROLE,
                serde_json::json!({
                    "operator": before.username,
                    "role": role.as_str(),
                    "previous_role": before.role.as_str(),
                }),
                actor.source_addr.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.get(id).await
        }

        /// Disables (ending every session of theirs at once) or re-enables an operator.
        pub async fn set_disabled(
            &self,
            actor: &Actor,
            id: i64,
            disabled: bool,
        ) -> Result<OperatorAccount, AppError> {
            actor.require(Permission::OperatorsManage)?;
            if disabled && id == actor.operator.id {
                return Err(AppError::Conflict("You cannot disable yourself".into()));
            }
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            take_operators_lock(&mut tx).await?;
            let before = get_in(&mut tx, id, now).await?;
            store::operators::set_disabled(&mut tx, id, disabled).await?;
            keeps_an_admin(&mut tx).await?;
            if disabled {
                store::sessions::end_all_of(&mut tx, id).await?;
            }
            audit::record(
                &mut tx,
                now,
                &actor.operator.username,
                if disabled {
                    audit::OPERATOR_DISABLE
                } else {
                    audit::OPERATOR_ENABLE
                },
                serde_json::json!({ "operator": before.username }),
                actor.source_addr.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.sessions_ended(id);
            self.get(id).await
        }

        /// An admin sets a new password for an operator; their sessions end.
        pub async fn reset_password(
            &self,
            actor: &Actor,
            id: i64,
            password: &NewPassword,
        ) -> Result<OperatorAccount, AppError> {
            actor.require(Permission::OperatorsManage)?;
            let before = self.get(id).await?;
            self.set_password(
                actor,
                id,
                password,
                audit::OPERATOR_PASSWORD_RESET,
                serde_json::json!({ "operator": before.username }),
            )
            .await?;
            self.get(id).await
        }

        /// Stores a new password and ends the operator's sessions except
        /// the caller's own, audited as `action`.
        async fn set_password(
            &self,
            actor: &Actor,
            id: i64,
            password: &NewPassword,
            action: &str,
            details: serde_json::Value,
        ) -> Result<(), AppError> {
            let mut tx = self.pool.begin().await?;
            store::operators::set_password_hash(
                &mut tx,
                id,
                &secrets::hash_password(password.as_str()),
            )
            .await?;
            store::sessions::end_others_of(
                &mut tx,
                id,
                &crate::server::secrets::token_hash(&actor.token),
            )
            .await?;
            audit::record(
                &mut tx,
                self.clock.now(),
                &actor.operator.username,
                action,
                details,
                actor.source_addr.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.sessions_ended(id);
            Ok(())
        }

        /// An operator changes their own password, proving the current one; their other
        /// sessions end.
        pub async fn change_own_password(
            &self,
            actor: &Actor,
            current: &str,
            new: &NewPassword,
        ) -> Result<(), AppError> {
            let hash: String =
                store::operators::password_hash(&self.pool, actor.operator.id).await?;
            if !secrets::verify_password_off_the_workers(current, &hash).await {
                return Err(AppError::Invalid(crate::domain::FieldError::new(
                    crate::domain::Field::CurrentPassword,
                    "The current password is not right",
                )));
            }
            self.set_password(
                actor,
                actor.operator.id,
                new,
                audit::PASSWORD_CHANGE,
                serde_json::json!({}),
            )
            .await
        }

        /// Ends every session of the caller, this one included.
        pub async fn logout_everywhere(&self, actor: &Actor) -> Result<i64, AppError> {
            let mut tx = self.pool.begin().await?;
            let ended = store::sessions::end_all_of(&mut tx, actor.operator.id).await? as i64;
            audit::record(
                &mut tx,
                self.clock.now(),
                &actor.operator.username,
                audit::LOGOUT_EVERYWHERE,
                serde_json::json!({ "sessions_ended": ended }),
                actor.source_addr.as_deref(),
            )
            .await?;
            tx.commit().await?;
            self.sessions_ended(actor.operator.id);
            Ok(ended)
        }
    }

    /// Takes the operators' turn: concurrent changes to operators run one after the other
    /// from here to their commit, so the admin check below sees every earlier change.
    async fn take_operators_lock(tx: &mut crate::database::Conn) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE store_locks SET taken = taken + 1 WHERE name = 'operators'")
            .execute(tx)
            .await
            .map(drop)
    }

    /// Refuses a change (made in `tx`, not committed) that leaves no enabled admin.
    async fn keeps_an_admin(tx: &mut crate::database::Conn) -> Result<(), AppError> {
        if store::operators::enabled_admins(tx).await? == 0 {
            return Err(AppError::Conflict(
                "At least one enabled admin must remain".into(),
            ));
        }
        Ok(())
    }

    async fn get_in(
        conn: &mut crate::database::Conn,
        id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<OperatorAccount, AppError> {
        store::operators::account(conn, id, now)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("No operator #{id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_operator_names_the_first_bad_field_in_form_order() {
        let json = |v: serde_json::Value| {
            NewOperator::try_from(serde_json::from_value::<NewOperatorRequest>(v).unwrap())
        };
        let strong = "correct horse battery";
        for (body, field) in [
            (
                serde_json::json!({"username": 7, "password": 1, "role": 2}),
                Field::Username,
            ),
            (
                serde_json::json!({"username": "ann", "password": "short", "role": "x"}),
                Field::Password,
            ),
            (
                serde_json::json!({"username": "ann", "password": strong}),
                Field::Role,
            ),
            (
                serde_json::json!({"username": "ann", "password": strong, "role": "root"}),
                Field::Role,
            ),
        ] {
            assert_eq!(json(body.clone()).unwrap_err().field, field, "{body}");
        }
        let form = NewOperator::try_from(NewOperatorRequest::from_form(
            " ann ".into(),
            strong.into(),
            "viewer".into(),
        ))
        .unwrap();
        assert_eq!((form.username.as_str(), form.role), ("ann", Role::Viewer));
        assert_eq!(
            NewOperator::try_from(NewOperatorRequest::from_form(
                "ann".into(),
                "short".into(),
                "root".into()
            ))
            .unwrap_err()
            .field,
            Field::Password
        );
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert_eq!(
            NewPassword::parse(Field::Password, "elevenchars")
                .unwrap_err()
                .field,
            Field::Password
        );
        assert!(NewPassword::parse(Field::Password, "twelve chars").is_ok());
        assert!(NewPassword::parse(Field::NewPassword, &" ".repeat(20)).is_err());
        assert!(NewPassword::parse(Field::Password, &"x".repeat(257)).is_err());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse(Field::Password, "secret secret").unwrap()
            ),
            "NewPassword(…)",
            "never printed"
        );
    }

    #[test]
    fn usernames_are_short_and_plain() {
        assert_eq!(Username::parse("  alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("alice smith").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse("ops.lead@example").is_ok());
    }

    #[test]
    fn roles_are_named() {
        assert_eq!(parse_role("viewer"), Ok(Role::Viewer));
        assert_eq!(parse_role("root").unwrap_err().field, Field::Role);
    }
}
