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
}
