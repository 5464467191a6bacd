use crate::domain::audit;
use crate::domain::shield::mode::ShieldMode;
use crate::domain::AppError;
use crate::domain::{Actor, Permission};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::Pool;
use std::sync::Arc;
use tokio::sync::watch;

/// The name of the setting that holds the mode.
pub const SETTING: &str = "shield_mode";

async fn load(pool: &Pool) -> Result<ShieldMode, sqlx::Error> {
    Ok(crate::server::store::settings::get(pool, SETTING)
        .await?
        .and_then(|v| ShieldMode::parse(&v).ok())
        .unwrap_or_default())
}

/// The mode: stored as a setting (audited), held in memory for the gateway, which reads
/// it on every request.
#[derive(Clone)]
pub struct ModeSetting {
    pool: Pool,
    clock: SharedClock,
    current: Arc<watch::Sender<ShieldMode>>,
}

impl ModeSetting {
    /// The setting, with the stored mode in memory.
    pub async fn load(pool: Pool, clock: SharedClock) -> Result<Self, sqlx::Error> {
        let mode = load(&pool).await?;
        Ok(Self {
            pool,
            clock,
            current: Arc::new(watch::channel(mode).0),
        })
    }

    pub fn current(&self) -> ShieldMode {
        *self.current.borrow()
    }

    /// Stores the mode (audited), then hands it to the gateway for its next request.
    pub async fn set(&self, actor: &Actor, mode: ShieldMode) -> Result<(), AppError> {
        actor.require(Permission::ShieldConfigure)?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        crate::server::store::settings::put(
            &mut tx,
            SETTING,
            mode.as_str(),
            now,
            &actor.operator.username,
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            &actor.operator.username,
            audit::SHIELD_MODE,
            serde_json::json!({ "mode": mode.as_str() }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        self.current.send_replace(mode);
        Ok(())
    }

    /// Reads the stored mode again (another replica may have set it).
    pub async fn reload(&self) -> Result<(), sqlx::Error> {
        let mode = load(&self.pool).await?;
        self.current.send_if_modified(|m| {
            let changed = *m != mode;
            *m = mode;
            changed
        });
        Ok(())
    }
}
