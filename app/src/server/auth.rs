//! Sessions: login, logout, and the caller of a request.

use crate::domain::alerts::{Severity, FAILED_LOGIN_BURST, SOURCE_AUTH};
use crate::domain::operators::{Credentials, LoginRequest};
use crate::domain::AppError;
use crate::domain::{audit, login_throttle};
use crate::domain::{Actor, Operator, Role};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, Pool};
use crate::server::events::EventHub;
use crate::server::secrets::{
    hash_password, random_hex, token_hash, verify_password_off_the_workers,
};
use crate::server::store::{operators, sessions};
use crate::server::{alerts, login_throttle as throttle};
use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderMap;
use std::sync::Arc;
use tokio::sync::broadcast;

pub const SESSION_COOKIE: &str = "bg_session";

/// Passwords anyone can read (the README's demo password): an `admin` that still has one
/// must not be reachable beyond this machine.
pub const PUBLISHED_PASSWORDS: &[&str] = &["breakglass-demo"];

/// Logins, logouts and the caller of a request: the store's sessions, the clock, the events
/// a burst of failed logins raises, and where to say that an operator's sessions ended.
#[derive(Clone)]
pub struct Sessions {
    pool: Pool,
    clock: SharedClock,
    events: EventHub,
    ended: broadcast::Sender<i64>,
    lifetime: TimeDelta,
    secure_cookies: bool,
    /// An argon2id hash checked when a login names no operator, so timing does not tell.
    dummy_password_hash: Arc<str>,
}

impl Sessions {
    /// `ended` carries the id of an operator some of whose sessions just ended; `secure_cookies`
    /// marks cookies `Secure` (when served over HTTPS).
    pub fn new(
        pool: Pool,
        clock: SharedClock,
        events: EventHub,
        ended: broadcast::Sender<i64>,
        lifetime: TimeDelta,
        secure_cookies: bool,
    ) -> Self {
        Self {
            pool,
            clock,
            events,
            ended,
            lifetime,
            secure_cookies,
            dummy_password_hash: Arc::from(hash_password("no such operator")),
        }
    }

    pub fn lifetime(&self) -> TimeDelta {
        self.lifetime
    }

    /// The `Set-Cookie` value of a new session.
    pub fn cookie(&self, token: &str) -> String {
        session_cookie(token, self.lifetime, self.secure_cookies)
    }

    /// The `Set-Cookie` value that clears the session cookie.
    pub fn clearing_cookie(&self) -> String {
        session_cookie("", TimeDelta::zero(), self.secure_cookies)
    }

    /// Tells open event streams that sessions of `operator_id` have ended.
    pub fn ended(&self, operator_id: i64) {
        let _ = self.ended.send(operator_id);
    }

    /// Hears the ids of operators some of whose sessions ended.
    pub fn subscribe_ended(&self) -> broadcast::Receiver<i64> {
        self.ended.subscribe()
    }

    /// Checks the credentials and opens a session; returns the operator and the session token
    /// (only its hash is stored). Failures are audited and throttled (`login_throttle`): no
    /// sequence of failures disables or locks an account.
    pub async fn login(
        &self,
        raw: LoginRequest,
        source_addr: Option<&str>,
    ) -> Result<(Operator, String), AppError> {
        let credentials = Credentials::try_from(raw)?;
        let (username, password) = (&credentials.username, &credentials.password);
        let now = self.clock.now();
        let (kept, cut) = login_throttle::kept_username(username);
        let attempt = throttle::Attempt {
            username: &kept,
            source: source_addr.unwrap_or("unknown"),
        };
        if let Some(until) = throttle::blocked_until(&self.pool, &attempt, now).await? {
            return Err(AppError::LoginThrottled {
                retry_after_seconds: ((until - now).num_milliseconds() + 999) / 1000,
            });
        }
        // A name longer than any operator's is no operator's: not looked up, still verified.
        let row = match cut {
            true => None,
            false => operators::enabled_by_name(&self.pool, username).await?,
        };
        // The same work whether or not the name exists, so that timing does not tell.
        let hash: String = row.as_ref().map_or_else(
            || self.dummy_password_hash.to_string(),
            |r| r.password_hash.clone(),
        );
        let verified = verify_password_off_the_workers(password, &hash).await;
        let operator = row.filter(|_| verified).and_then(|row| {
            Some(Operator {
                id: row.id,
                username: row.username,
                role: Role::parse(&row.role)?,
            })
        });
        let mut tx = database::begin(&self.pool).await?;
        let Some(operator) = operator else {
            let counts = throttle::count_failure(&mut tx, &attempt, now).await?;
            let mut details = serde_json::json!({
                "failures": counts
                    .iter()
                    .map(|(scope, n)| (scope.as_str().to_owned(), serde_json::Value::from(*n)))
                    .collect::<serde_json::Map<_, _>>(),
            });
            if cut {
                details["username_truncated"] = true.into();
                details["username_chars"] = username.chars().count().into();
            }
            audit_trail::record(
                &mut tx,
                now,
                &kept,
                audit::LOGIN_FAILED,
                details,
                source_addr,
            )
            .await?;
            tx.commit().await?;
            let burst = counts.iter().any(|(scope, n)| {
                *scope != login_throttle::Scope::Pair && *n == login_throttle::ALERT_AT
            });
            if burst {
                self.raise_login_burst_alert(now).await?;
            }
            return Err(AppError::BadCredentials);
        };
        throttle::count_success(&mut tx, &attempt, now).await?;
        let token = random_hex(32);
        let expires_at = now + self.lifetime;
        sessions::insert(&mut tx, &token_hash(&token), operator.id, now, expires_at).await?;
        // Expired sessions go, and beyond the newest few the oldest ones end.
        let ended = sessions::prune(
            &mut tx,
            operator.id,
            now,
            crate::domain::operators::MAX_SESSIONS,
        )
        .await?;
        audit_trail::record(
            &mut tx,
            now,
            &operator.username,
            audit::LOGIN,
            serde_json::json!({ "sessions_ended": ended }),
            source_addr,
        )
        .await?;
        tx.commit().await?;
        if ended > 0 {
            self.ended(operator.id);
        }
        Ok((operator, token))
    }

    /// A HIGH alert naming the accounts and addresses with the most failed logins in the last
    /// 15 minutes; at most one such alert per 15 minutes.
    async fn raise_login_burst_alert(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let since = now - chrono::TimeDelta::minutes(15);
        let recent = alerts::titled_since(&self.pool, FAILED_LOGIN_BURST, since).await?;
        if recent > 0 {
            return Ok(());
        }
        let (accounts, sources) = throttle::recent_failures(&self.pool, since).await?;
        let list = |items: &[(String, i64)]| {
            items
                .iter()
                .map(|(k, n)| format!("{k} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut conn = self.pool.acquire().await?;
        let alert = alerts::insert(
            &mut conn,
            alerts::NewAlert {
                at: now,
                severity: Severity::High,
                source: SOURCE_AUTH,
                title: FAILED_LOGIN_BURST.to_owned(),
                message: format!(
                    "Failed logins in the last 15 minutes, by account: {}; by source address: {}. \
                     Logins are throttled, never locked: check for credential stuffing or \
                     password guessing.",
                    list(&accounts),
                    list(&sources)
                ),
                window_id: None,
                link: Some(format!("/audit?action={}", audit::LOGIN_FAILED)),
                topic: Some(crate::domain::notifications::Topic::FailedLogins),
            },
        )
        .await?;
        self.events
            .publish(&crate::domain::events::ServerEvent::Alert(alert));
        Ok(())
    }

    pub async fn logout(
        &self,
        token: &str,
        operator: &Operator,
        source_addr: Option<&str>,
    ) -> Result<(), AppError> {
        let mut tx = database::begin(&self.pool).await?;
        sessions::end(&mut tx, &token_hash(token)).await?;
        audit_trail::record(
            &mut tx,
            self.clock.now(),
            &operator.username,
            audit::LOGOUT,
            serde_json::json!({}),
            source_addr,
        )
        .await?;
        tx.commit().await?;
        // The browser's shared event stream used this session too: it closes now.
        self.ended(operator.id);
        Ok(())
    }

    /// The operator of a live session and when that session expires.
    pub async fn operator_for_token(
        &self,
        token: &str,
    ) -> Result<Option<(Operator, DateTime<Utc>)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let live = sessions::live(&mut conn, &token_hash(token), self.clock.now()).await?;
        Ok(live.and_then(|(id, username, role, expires_at)| {
            let operator = Operator {
                id,
                username,
                role: Role::parse(&role)?,
            };
            Some((operator, expires_at))
        }))
    }

    /// Resolves the caller of a request from its session cookie.
    pub async fn actor_from_headers(
        &self,
        headers: &HeaderMap,
        source_addr: Option<String>,
    ) -> Result<Actor, AppError> {
        let token = session_token(headers).ok_or(AppError::Unauthorized)?;
        let (operator, session_expires_at) = self
            .operator_for_token(&token)
            .await?
            .ok_or(AppError::Unauthorized)?;
        Ok(Actor {
            operator,
            source_addr,
            token,
            session_expires_at,
        })
    }
}

/// Whether the operator `admin` is enabled and still has a published password.
pub async fn admin_has_published_password(pool: &Pool) -> Result<bool, sqlx::Error> {
    let hash = operators::enabled_admin_hash(pool).await?;
    let Some(hash) = hash else {
        return Ok(false);
    };
    for password in PUBLISHED_PASSWORDS {
        if verify_password_off_the_workers(password, &hash).await {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Creates the bootstrap admin when no operator exists. Returns the generated password
/// when none was given, so that the caller prints it once.
pub async fn ensure_bootstrap_admin(
    pool: &Pool,
    password: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    if operators::count(pool).await? > 0 {
        return Ok(None);
    }
    let generated = password.is_none().then(|| random_hex(12));
    let password = password.or(generated.as_deref()).unwrap_or_default();
    create_operator(pool, "admin", password, Role::Admin, now).await?;
    Ok(generated)
}

pub async fn create_operator(
    pool: &Pool,
    username: &str,
    password: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let hash = hash_password(password);
    operators::insert(&mut conn, username, &hash, role.as_str(), now)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// The session token from a request's `Cookie` header.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn session_cookie(token: &str, lifetime: TimeDelta, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        lifetime.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The caller of the current server function.
pub async fn current_actor() -> Result<Actor, AppError> {
    let sessions = leptos::prelude::expect_context::<Sessions>();
    let headers: HeaderMap = leptos_axum::extract()
        .await
        .map_err(|e| AppError::Transport(e.to_string()))?;
    let addr = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|c| c.0.ip().to_string());
    sessions.actor_from_headers(&headers, addr).await
}
