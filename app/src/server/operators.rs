use crate::domain::audit;
use crate::domain::operators::{NewOperator, NewPassword};
use crate::domain::AppError;
use crate::domain::OperatorAccount;
use crate::domain::{Actor, Permission, Role};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, Pool};
use crate::server::{secrets, store};
use tokio::sync::broadcast;

/// Every operator's id.
pub async fn ids(pool: &crate::server::database::Pool) -> Result<Vec<i64>, sqlx::Error> {
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
        let mut tx = database::begin(&self.pool).await?;
        let hash = secrets::hash_password(password.as_str());
        let id =
            store::operators::insert(&mut tx, username.as_str(), &hash, role.as_str(), now).await?;
        let Some(id) = id else {
            return Err(AppError::Conflict(format!(
                "An operator named {} exists already",
                username.as_str()
            )));
        };
        audit_trail::record(
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
        let mut tx = database::begin(&self.pool).await?;
        take_operators_lock(&mut tx).await?;
        let before = get_in(&mut tx, id, now).await?;
        store::operators::set_role(&mut tx, id, role.as_str()).await?;
        keeps_an_admin(&mut tx).await?;
        audit_trail::record(
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
        let mut tx = database::begin(&self.pool).await?;
        take_operators_lock(&mut tx).await?;
        let before = get_in(&mut tx, id, now).await?;
        store::operators::set_disabled(&mut tx, id, disabled).await?;
        keeps_an_admin(&mut tx).await?;
        if disabled {
            store::sessions::end_all_of(&mut tx, id).await?;
        }
        audit_trail::record(
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
        let mut tx = database::begin(&self.pool).await?;
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
        audit_trail::record(
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
        let hash: String = store::operators::password_hash(&self.pool, actor.operator.id).await?;
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
        let mut tx = database::begin(&self.pool).await?;
        let ended = store::sessions::end_all_of(&mut tx, actor.operator.id).await? as i64;
        audit_trail::record(
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
async fn take_operators_lock(tx: &mut crate::server::database::Conn) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE store_locks SET taken = taken + 1 WHERE name = 'operators'")
        .execute(tx)
        .await
        .map(drop)
}

/// Refuses a change (made in `tx`, not committed) that leaves no enabled admin.
async fn keeps_an_admin(tx: &mut crate::server::database::Conn) -> Result<(), AppError> {
    if store::operators::enabled_admins(tx).await? == 0 {
        return Err(AppError::Conflict(
            "At least one enabled admin must remain".into(),
        ));
    }
    Ok(())
}

async fn get_in(
    conn: &mut crate::server::database::Conn,
    id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<OperatorAccount, AppError> {
    store::operators::account(conn, id, now)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No operator #{id}")))
}
