//! Gateway API keys: created by an admin with scopes, an optional expiry and a rate limit;
//! shown once, stored hashed, revocable.

use crate::domain::{Field, FieldError, Scope, WireField, SCOPES};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A key about to be created: its name, scopes, expiry and rate limit, all checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: u32,
}

pub const DEFAULT_RATE_LIMIT: u32 = 600;
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// A key as either door receives it: the API Keys form's server function or `POST /api/keys`.
/// A field may be missing or of the wrong type; `KeySpec::from_request` names the first
/// field, in form order, that is not valid.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct KeyRequest {
    #[serde(default)]
    pub name: Option<WireField>,
    #[serde(default)]
    pub scopes: Option<WireField>,
    #[serde(default)]
    pub expires_at: Option<WireField>,
    #[serde(default)]
    pub rate_limit_per_minute: Option<WireField>,
}

impl KeyRequest {
    /// The form's fields, as typed (the scopes as the boxes ticked).
    pub fn from_form(
        name: String,
        scopes: &[Scope],
        expires_at: String,
        rate_limit_per_minute: String,
    ) -> Self {
        Self {
            name: Some(WireField::Text(name)),
            scopes: Some(WireField::List(
                scopes
                    .iter()
                    .map(|s| WireField::Text(s.as_str().to_owned()))
                    .collect(),
            )),
            expires_at: Some(WireField::Text(expires_at)),
            rate_limit_per_minute: Some(WireField::Text(rate_limit_per_minute)),
        }
    }
}

impl KeySpec {
    /// Name, then scopes, then expiry, then rate limit: the first that is missing, mistyped or
    /// invalid is the one named. `expires_at` is RFC 3339 or a UTC `datetime-local` value,
    /// empty for none, and must be after `now`; no rate limit means the default.
    pub fn from_request(raw: KeyRequest, now: DateTime<Utc>) -> Result<Self, FieldError> {
        let name = match raw.name {
            Some(WireField::Text(text)) => Self::name(&text)?,
            _ => return Err(Self::bad_name()),
        };
        let scopes = match raw.scopes {
            Some(WireField::List(items)) => Self::scopes(items)?,
            _ => return Err(Self::bad_scopes()),
        };
        let expires_at = match raw.expires_at {
            None => None,
            Some(WireField::Text(text)) => Self::expiry(&text, now)?,
            Some(_) => return Err(Self::bad_expiry()),
        };
        let rate_limit_per_minute = match raw.rate_limit_per_minute {
            None => DEFAULT_RATE_LIMIT,
            Some(WireField::Whole(n)) => Self::rate_limit(n)?,
            Some(WireField::Text(text)) => match text.trim() {
                "" => DEFAULT_RATE_LIMIT,
                text => Self::rate_limit(text.parse().map_err(|_| Self::bad_rate_limit())?)?,
            },
            Some(_) => return Err(Self::bad_rate_limit()),
        };
        Ok(Self {
            name,
            scopes,
            expires_at,
            rate_limit_per_minute,
        })
    }

    fn name(raw: &str) -> Result<String, FieldError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Self::bad_name());
        }
        Ok(name.to_owned())
    }

    fn bad_name() -> FieldError {
        FieldError::new(Field::Name, "Name must be 1 to 100 characters")
    }

    /// Known scopes, each once, sorted; at least one.
    fn scopes(items: Vec<WireField>) -> Result<Vec<Scope>, FieldError> {
        let mut parsed = Vec::new();
        for item in items {
            let scope = match item {
                WireField::Text(raw) => Scope::parse(raw.trim()),
                _ => None,
            }
            .ok_or_else(Self::bad_scopes)?;
            if !parsed.contains(&scope) {
                parsed.push(scope);
            }
        }
        if parsed.is_empty() {
            return Err(FieldError::new(
                Field::Scopes,
                "Give the key at least one scope",
            ));
        }
        parsed.sort();
        Ok(parsed)
    }

    fn bad_scopes() -> FieldError {
        FieldError::new(
            Field::Scopes,
            format!(
                "Scopes must be a list of {}",
                SCOPES.map(Scope::as_str).join(", ")
            ),
        )
    }

    fn expiry(raw: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, FieldError> {
        let expires_at = crate::domain::time_format::parse_instant(Field::ExpiresAt, raw)?;
        if expires_at.is_some_and(|t| t <= now) {
            return Err(FieldError::new(
                Field::ExpiresAt,
                "Expiry must be in the future",
            ));
        }
        Ok(expires_at)
    }

    fn bad_expiry() -> FieldError {
        FieldError::new(Field::ExpiresAt, "Expiry must be an RFC 3339 time")
    }

    fn rate_limit(n: i64) -> Result<u32, FieldError> {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_RATE_LIMIT).contains(n))
            .ok_or_else(|| {
                FieldError::new(
                    Field::RateLimit,
                    format!("Rate limit must be 1 to {MAX_RATE_LIMIT} requests per minute"),
                )
            })
    }

    fn bad_rate_limit() -> FieldError {
        FieldError::new(
            Field::RateLimit,
            "Rate limit must be a whole number of requests per minute",
        )
    }
}

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
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: u32,
}

/// A key just created: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret: String,
}

#[cfg(feature = "ssr")]
pub use store::{authenticate, create, list, revoke, KeyRefusal, KeyRegistry, RateLimiter};

#[cfg(feature = "ssr")]
mod store {
    use super::{ApiKey, CreatedApiKey, KeySpec, Scope, KEY_PREFIX};
    use crate::audit;
    use crate::database::{from_millis, to_millis, Pool};
    use crate::domain::AppError;
    use crate::domain::{Actor, KeyCaller, Permission};
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

    fn from_row(r: &crate::database::Row) -> ApiKey {
        ApiKey {
            scopes: scopes_of(r.get("scopes")),
            expires_at: r.get::<Option<i64>, _>("expires_at").map(from_millis),
            rate_limit_per_minute: u32::try_from(r.get::<i64, _>("rate_limit_per_minute"))
                .unwrap_or(super::DEFAULT_RATE_LIMIT),
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
        spec: &KeySpec,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, AppError> {
        actor.require(Permission::ApiKeysManage)?;
        let secret = format!("{KEY_PREFIX}{}", random_hex(32));
        let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
        let mut tx = pool.begin().await?;
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
        audit::record(
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

    pub async fn revoke(
        pool: &Pool,
        keys: &KeyRegistry,
        actor: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, AppError> {
        actor.require(Permission::ApiKeysManage)?;
        let mut tx = pool.begin().await?;
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
                        .unwrap_or(super::DEFAULT_RATE_LIMIT),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn json(value: serde_json::Value) -> Result<KeySpec, FieldError> {
        KeySpec::from_request(serde_json::from_value(value).unwrap(), now())
    }

    #[test]
    fn a_spec_names_each_bad_field() {
        let ok = json(serde_json::json!({
            "name": " agents ", "scopes": ["ingest", "gateway", "gateway"]
        }))
        .unwrap();
        assert_eq!(ok.name, "agents");
        assert_eq!(
            ok.scopes,
            [Scope::Gateway, Scope::Ingest],
            "sorted, once each"
        );
        assert_eq!(ok.rate_limit_per_minute, DEFAULT_RATE_LIMIT);
        // null is the same as leaving a field out.
        let nulls = json(serde_json::json!({
            "name": "k", "scopes": ["gateway"], "expires_at": null, "rate_limit_per_minute": null
        }))
        .unwrap();
        assert_eq!(
            (nulls.expires_at, nulls.rate_limit_per_minute),
            (None, DEFAULT_RATE_LIMIT)
        );
        for (body, field) in [
            (
                serde_json::json!({"name": "", "scopes": ["gateway"]}),
                Field::Name,
            ),
            (
                serde_json::json!({"name": 7, "scopes": ["gateway"]}),
                Field::Name,
            ),
            (
                serde_json::json!({"name": "k", "scopes": []}),
                Field::Scopes,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["admin"]}),
                Field::Scopes,
            ),
            (
                serde_json::json!({"name": "k", "scopes": "gateway"}),
                Field::Scopes,
            ),
            (
                serde_json::json!({"name": "k", "scopes": [1]}),
                Field::Scopes,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["gateway"], "expires_at": "2020-01-01T00:00"}),
                Field::ExpiresAt,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["gateway"], "expires_at": "soon"}),
                Field::ExpiresAt,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["gateway"], "expires_at": 5}),
                Field::ExpiresAt,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["gateway"], "rate_limit_per_minute": 0}),
                Field::RateLimit,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["gateway"], "rate_limit_per_minute": 100_001}),
                Field::RateLimit,
            ),
            (
                serde_json::json!({"name": "k", "scopes": ["gateway"], "rate_limit_per_minute": 1.5}),
                Field::RateLimit,
            ),
        ] {
            assert_eq!(json(body.clone()).unwrap_err().field, field, "{body}");
        }
    }

    #[test]
    fn both_doors_name_the_first_bad_field_in_form_order() {
        // A name that breaks its rule comes before scopes of the wrong type.
        assert_eq!(
            json(serde_json::json!({"name": "", "scopes": "gateway"}))
                .unwrap_err()
                .field,
            Field::Name
        );
        let form = |name: &str, scopes: &[Scope], expires: &str, rate: &str| {
            KeySpec::from_request(
                KeyRequest::from_form(name.into(), scopes, expires.into(), rate.into()),
                now(),
            )
        };
        assert_eq!(form("", &[], "soon", "x").unwrap_err().field, Field::Name);
        assert_eq!(
            form("k", &[], "soon", "x").unwrap_err().field,
            Field::Scopes
        );
        assert_eq!(
            form("k", &[Scope::Gateway], "soon", "x").unwrap_err().field,
            Field::ExpiresAt
        );
        assert_eq!(
            form("k", &[Scope::Gateway], "", "x").unwrap_err().field,
            Field::RateLimit
        );
        let ok = form("k", &[Scope::Gateway], "", " ").unwrap();
        assert_eq!(ok.rate_limit_per_minute, DEFAULT_RATE_LIMIT);
        assert_eq!(
            form("k", &[Scope::Gateway], "", "60")
                .unwrap()
                .rate_limit_per_minute,
            60
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_bucket_allows_the_limit_then_refills_over_the_minute() {
        let limiter = RateLimiter::default();
        let t0 = now();
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
