use crate::domain::api_keys::{ApiKey, CreatedApiKey, KeyRequest, KeySpec, KEY_PREFIX};
use crate::domain::audit;
use crate::domain::break_glass::ScopedKey;
use crate::domain::AppError;
use crate::domain::Scope;
use crate::domain::{Actor, KeyCaller, Permission};
use crate::server::audit_trail;
use crate::server::database::{self, from_millis, to_millis, Pool};
use crate::server::secrets::{random_hex, token_hash};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Mutex;

const COLUMNS: &str = "id, name, prefix, created_at, created_by, revoked_at, last_used_at, \
    scopes, expires_at, rate_limit_per_minute";

fn scopes_of(raw: &str) -> Vec<Scope> {
    raw.split_whitespace().filter_map(Scope::parse).collect()
}

fn from_row(r: &crate::server::database::Row) -> ApiKey {
    ApiKey {
        scopes: scopes_of(r.get("scopes")),
        expires_at: r.get::<Option<i64>, _>("expires_at").map(from_millis),
        rate_limit_per_minute: u32::try_from(r.get::<i64, _>("rate_limit_per_minute"))
            .unwrap_or(crate::domain::api_keys::DEFAULT_RATE_LIMIT),
        id: r.get("id"),
        name: r.get("name"),
        prefix: r.get("prefix"),
        created_at: from_millis(r.get("created_at")),
        created_by: r.get("created_by"),
        revoked_at: r.get::<Option<i64>, _>("revoked_at").map(from_millis),
        last_used_at: r.get::<Option<i64>, _>("last_used_at").map(from_millis),
    }
}

/// A new key as either door received it: checked (permission, then the fields in form
/// order), stored, audited; the secret is in the answer only.
pub async fn create(
    pool: &Pool,
    actor: &Actor,
    raw: KeyRequest,
    now: DateTime<Utc>,
) -> Result<CreatedApiKey, AppError> {
    actor.require(Permission::ApiKeysManage)?;
    let spec = &KeySpec::from_request(raw, now)?;
    let secret = format!("{KEY_PREFIX}{}", random_hex(32));
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
    let mut tx = database::begin(pool).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (name, prefix, key_hash, created_at, created_by, scopes, \
         expires_at, rate_limit_per_minute) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(&spec.name)
    .bind(&prefix)
    .bind(token_hash(&secret))
    .bind(to_millis(now))
    .bind(&actor.operator.username)
    .bind(
        spec.scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
    .bind(spec.expires_at.map(to_millis))
    .bind(i64::from(spec.rate_limit_per_minute))
    .fetch_one(&mut *tx)
    .await?;
    let key = from_row(&row);
    audit_trail::record(
        &mut tx,
        now,
        &actor.operator.username,
        audit::API_KEY_CREATE,
        serde_json::json!({
            "api_key_id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "expires_at": key.expires_at,
            "rate_limit_per_minute": key.rate_limit_per_minute,
        }),
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

/// The keys a break-glass window may be scoped to: live (neither revoked nor expired at
/// `now`) and allowed through the gateway. Offered to whoever may activate, without secrets.
pub async fn scopable(
    pool: &Pool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<ScopedKey>, AppError> {
    actor.require(Permission::BreakGlassActivate)?;
    Ok(live_gateway_keys(pool, now).await?)
}

/// Live keys with the gateway scope, oldest first, as a window's scope names them.
pub async fn live_gateway_keys(
    pool: &Pool,
    now: DateTime<Utc>,
) -> Result<Vec<ScopedKey>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $1) ORDER BY id"
    ))
    .bind(to_millis(now))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(from_row)
        .filter(|k| k.scopes.contains(&Scope::Gateway))
        .map(|k| ScopedKey {
            id: k.id,
            name: format!("{} ({}…)", k.name, k.prefix),
        })
        .collect())
}

pub async fn revoke(
    pool: &Pool,
    keys: &KeyRegistry,
    actor: &Actor,
    id: i64,
    now: DateTime<Utc>,
) -> Result<ApiKey, AppError> {
    actor.require(Permission::ApiKeysManage)?;
    let mut tx = database::begin(pool).await?;
    let row = sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = $1, revoked_by = $2 \
         WHERE id = $3 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(to_millis(now))
    .bind(&actor.operator.username)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        return Err(match exists {
            Some(_) => AppError::Conflict(format!("API key {id} is already revoked")),
            None => AppError::NotFound(format!("API key {id}")),
        });
    };
    let key = from_row(&row);
    audit_trail::record(
        &mut tx,
        now,
        &actor.operator.username,
        audit::API_KEY_REVOKE,
        serde_json::json!({ "api_key_id": id, "name": key.name }),
        actor.source_addr.as_deref(),
    )
    .await?;
    tx.commit().await?;
    keys.forget(id);
    Ok(key)
}

/// Why a key was not let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Unknown, revoked or expired: 401.
    Invalid,
    /// Over its rate limit: 429.
    RateLimited { retry_after_seconds: i64 },
}

impl From<KeyRefusal> for AppError {
    fn from(r: KeyRefusal) -> Self {
        match r {
            KeyRefusal::Invalid => AppError::Unauthorized,
            KeyRefusal::RateLimited {
                retry_after_seconds,
            } => AppError::RateLimited {
                retry_after_seconds,
            },
        }
    }
}

/// One token bucket per key: a key may send its limit per minute, spread or in a burst.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<i64, (f64, DateTime<Utc>)>>,
}

impl RateLimiter {
    pub fn take(&self, key: i64, per_minute: u32, now: DateTime<Utc>) -> Result<(), i64> {
        let capacity = f64::from(per_minute);
        let per_ms = capacity / 60_000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(key).or_insert((capacity, now));
        let elapsed = (now - *last).num_milliseconds().max(0) as f64;
        *tokens = (*tokens + elapsed * per_ms).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_ms / 1000.0).ceil().max(1.0) as i64)
        }
    }
}

/// What the server remembers of a live key, so that a request does not query the store.
#[derive(Clone, Debug)]
struct Known {
    id: i64,
    scopes: Vec<Scope>,
    expires_at: Option<i64>,
    per_minute: u32,
    last_used_at: Option<i64>,
}

/// The live keys seen so far (by hash) and their rate-limit buckets. A key is read from
/// the store once; revoking it forgets it, so the next request is refused.
#[derive(Default)]
pub struct KeyRegistry {
    known: Mutex<HashMap<String, Known>>,
    limiter: RateLimiter,
}

impl KeyRegistry {
    fn lookup(&self, hash: &str) -> Option<Known> {
        self.lock().get(hash).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets key `id`: its next request goes to the store and finds it revoked.
    pub fn forget(&self, id: i64) {
        self.lock().retain(|_, k| k.id != id);
    }

    /// Forgets every key: each is read from the store again on its next request.
    pub fn forget_all(&self) {
        self.lock().clear();
    }
}

/// The live key that `secret` is: unknown, revoked and expired keys are refused at once,
/// and a key over its rate limit is told when to try again. The store is read the first
/// time a key is seen; `last_used_at` is written at most once a minute per key.
pub async fn authenticate(
    pool: &Pool,
    keys: &KeyRegistry,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Result<KeyCaller, KeyRefusal>, sqlx::Error> {
    let hash = token_hash(secret);
    let key = match keys.lookup(&hash) {
        Some(key) => key,
        None => {
            let row = sqlx::query(
                "SELECT id, scopes, expires_at, rate_limit_per_minute, last_used_at \
                 FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else {
                return Ok(Err(KeyRefusal::Invalid));
            };
            let key = Known {
                id: row.get("id"),
                scopes: scopes_of(row.get("scopes")),
                expires_at: row.get("expires_at"),
                per_minute: u32::try_from(row.get::<i64, _>("rate_limit_per_minute"))
                    .unwrap_or(crate::domain::api_keys::DEFAULT_RATE_LIMIT),
                last_used_at: row.get("last_used_at"),
            };
            keys.lock().insert(hash.clone(), key.clone());
            key
        }
    };
    let now_ms = to_millis(now);
    if key.expires_at.is_some_and(|t| t <= now_ms) {
        return Ok(Err(KeyRefusal::Invalid));
    }
    if let Err(retry_after_seconds) = keys.limiter.take(key.id, key.per_minute, now) {
        return Ok(Err(KeyRefusal::RateLimited {
            retry_after_seconds,
        }));
    }
    if key.last_used_at.is_none_or(|t| t < now_ms - 60_000) {
        if let Some(k) = keys.lock().get_mut(&hash) {
            k.last_used_at = Some(now_ms);
        }
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(key.id)
            .execute(pool)
            .await?;
    }
    Ok(Ok(KeyCaller {
        id: key.id,
        scopes: key.scopes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_the_limit_then_refills_over_the_minute() {
        let limiter = RateLimiter::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.take(1, 3, t0), Ok(()));
        }
        assert_eq!(limiter.take(1, 3, t0), Err(20), "one token every 20 s");
        assert_eq!(
            limiter.take(2, 3, t0),
            Ok(()),
            "each key has its own bucket"
        );
        assert_eq!(
            limiter.take(1, 3, t0 + chrono::TimeDelta::seconds(20)),
            Ok(())
        );
        assert_eq!(
            limiter.take(1, 3, t0 + chrono::TimeDelta::seconds(21)),
            Err(19)
        );
    }
}
