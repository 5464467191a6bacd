use crate::domain::audit;
use crate::domain::shield::mode::ShieldMode;
use crate::domain::AppError;
use crate::domain::{Actor, Permission, Reader, Scope};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, Pool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    /// `true` in BLOCK mode: one load per gateway request.
    blocking: Arc<AtomicBool>,
}

impl ModeSetting {
    /// The setting, with the stored mode in memory.
    pub async fn load(pool: Pool, clock: SharedClock) -> Result<Self, sqlx::Error> {
        let mode = load(&pool).await?;
        Ok(Self {
            pool,
            clock,
            blocking: Arc::new(AtomicBool::new(mode == ShieldMode::Block)),
        })
    }

    /// The mode the gateway applies now.
    pub fn current(&self) -> ShieldMode {
        match self.blocking.load(Ordering::Relaxed) {
            true => ShieldMode::Block,
            false => ShieldMode::Observe,
        }
    }

    /// The mode, for a caller who may read the status.
    pub fn read(&self, reader: &Reader) -> Result<ShieldMode, AppError> {
        reader.require(Permission::StatusRead, Scope::ShieldScan)?;
        Ok(self.current())
    }

    /// Stores the mode (audited), then hands it to the gateway for its next request.
    pub async fn set(&self, actor: &Actor, mode: ShieldMode) -> Result<(), AppError> {
        actor.require(Permission::ShieldConfigure)?;
        let now = self.clock.now();
        let mut tx = database::begin(&self.pool).await?;
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
        self.blocking
            .store(mode == ShieldMode::Block, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the stored mode again (another replica may have set it).
    pub async fn reload(&self) -> Result<(), sqlx::Error> {
        let mode = load(&self.pool).await?;
        self.blocking
            .store(mode == ShieldMode::Block, Ordering::Relaxed);
        Ok(())
    }
}
