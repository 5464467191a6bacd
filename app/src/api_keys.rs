//! Gateway API keys: created by an admin, shown once, stored hashed, revocable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Every key starts with this, so that a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "bgk_";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, enough to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret: String,
}

#[cfg(feature = "ssr")]
pub use store::{authenticate, create, list, revoke};

#[cfg(feature = "ssr")]
mod store {
    use super::{ApiKey, CreatedApiKey, KEY_PREFIX};
    use crate::audit;
    use crate::auth::{random_hex, token_hash, Actor, Permission};
    use crate::break_glass::{Field, FieldError};
    use crate::database::{from_millis, to_millis, Pool};
    use crate::error::AppError;
    use chrono::{DateTime, Utc};
    use sqlx::sqlite::SqliteRow;
    use sqlx::Row;

    const COLUMNS: &str = "id, name, prefix, created_at, created_by, revoked_at, last_used_at";

    fn from_row(r: &SqliteRow) -> ApiKey {
        ApiKey {
            id: r.get("id"),
            name: r.get("name"),
            prefix: r.get("prefix"),
            created_at: from_millis(r.get("created_at")),
            created_by: r.get("created_by"),
            revoked_at: r.get::<Option<i64>, _>("revoked_at").map(from_millis),
            last_used_at: r.get::<Option<i64>, _>("last_used_at").map(from_millis),
        }
    }

    pub async fn create(
        pool: &Pool,
        actor: &Actor,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, AppError> {
        actor.require(Permission::ApiKeysManage)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(FieldError::new(Field::Name, "Name must be 1 to 100 characters").into());
        }
        let secret = format!("{KEY_PREFIX}{}", random_hex(32));
        let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
        let mut tx = pool.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (name, prefix, key_hash, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ))
        .bind(name)
        .bind(&prefix)
        .bind(token_hash(&secret))
        .bind(to_millis(now))
        .bind(&actor.operator.username)
        .fetch_one(&mut *tx)
        .await?;
        let key = from_row(&row);
        audit::record(
            &mut tx,
            now,
            &actor.operator.username,
            audit::API_KEY_CREATE,
            serde_json::json!({ "api_key_id": key.id, "name": key.name, "prefix": key.prefix }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedApiKey { key, secret })
    }

    pub async fn list(pool: &Pool, actor: &Actor) -> Result<Vec<ApiKey>, AppError> {
        actor.require(Permission::ApiKeysManage)?;
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id DESC"))
            .fetch_all(pool)
            .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    pub async fn revoke(
        pool: &Pool,
        actor: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, AppError> {
        actor.require(Permission::ApiKeysManage)?;
        let mut tx = pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE api_keys SET revoked_at = ?, revoked_by = ? \
             WHERE id = ? AND revoked_at IS NULL RETURNING {COLUMNS}"
        ))
        .bind(to_millis(now))
        .bind(&actor.operator.username)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM api_keys WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                Some(_) => AppError::Conflict(format!("API key {id} is already revoked")),
                None => AppError::NotFound(format!("API key {id}")),
            });
        };
        let key = from_row(&row);
        audit::record(
            &mut tx,
            now,
            &actor.operator.username,
            audit::API_KEY_REVOKE,
            serde_json::json!({ "api_key_id": id, "name": key.name }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// The id of the live key that `secret` is; a revoked or unknown key is refused at once.
    pub async fn authenticate(
        pool: &Pool,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "UPDATE api_keys SET last_used_at = ? \
             WHERE key_hash = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(to_millis(now))
        .bind(token_hash(secret))
        .fetch_optional(pool)
        .await
    }
}
