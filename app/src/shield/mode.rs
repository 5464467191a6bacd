//! The shield mode: OBSERVE logs verdicts and rejects nothing; BLOCK rejects BLOCK verdicts.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ShieldMode {
    #[default]
    Observe,
    Block,
}

impl ShieldMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ShieldMode::Observe => "OBSERVE",
            ShieldMode::Block => "BLOCK",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, crate::domain::FieldError> {
        match raw {
            "OBSERVE" => Ok(ShieldMode::Observe),
            "BLOCK" => Ok(ShieldMode::Block),
            _ => Err(crate::domain::FieldError::new(
                crate::domain::Field::Mode,
                "Mode must be OBSERVE or BLOCK",
            )),
        }
    }
}

#[cfg(feature = "ssr")]
pub use store::{load, set, SETTING};

#[cfg(feature = "ssr")]
mod store {
    use super::ShieldMode;
    use crate::audit;
    use crate::database::Pool;
    use crate::domain::AppError;
    use crate::domain::{Actor, Permission};
    use chrono::{DateTime, Utc};
    use tokio::sync::watch;

    /// The name of the setting that holds the mode.
    pub const SETTING: &str = "shield_mode";

    pub async fn load(pool: &Pool) -> Result<ShieldMode, sqlx::Error> {
        Ok(crate::settings::get(pool, SETTING)
            .await?
            .and_then(|v| ShieldMode::parse(&v).ok())
            .unwrap_or_default())
    }

    /// Stores the mode (audited), then hands it to the gateway (`current`) for its next
    /// request.
    pub async fn set(
        pool: &Pool,
        now: DateTime<Utc>,
        current: &watch::Sender<ShieldMode>,
        actor: &Actor,
        mode: ShieldMode,
    ) -> Result<(), AppError> {
        actor.require(Permission::ShieldConfigure)?;
        let mut tx = pool.begin().await?;
        crate::settings::put(
            &mut tx,
            SETTING,
            mode.as_str(),
            now,
            &actor.operator.username,
        )
        .await?;
        audit::record(
            &mut tx,
            now,
            &actor.operator.username,
            audit::SHIELD_MODE,
            serde_json::json!({ "mode": mode.as_str() }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        current.send_replace(mode);
        Ok(())
    }
}
