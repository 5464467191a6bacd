//! Several replicas on one PostgreSQL database, kept in step.
//!
//! Every change that replicas hold in memory (break-glass state, new alerts, settings such as
//! the shield mode, key revocations, ended sessions) is announced by a trigger in the
//! PostgreSQL migrations with `NOTIFY breakglass, '<what>'` when its transaction commits. Each
//! replica LISTENs on one dedicated connection and, for each notice, reads the new state from
//! the tables: a notice says what to look at, never what to believe.
//!
//! When that connection is lost the replica is degraded: it keeps serving with the state it
//! last knew, refuses to activate break-glass (it cannot know whether another replica already
//! did), and says so on `/readyz` and `/metrics`. On reconnecting it LISTENs first and then
//! reads everything a missed notice could have changed, so nothing missed is assumed.
//! SQLite serves one replica: its link is `Embedded` and never degraded.

/// The channel the triggers notify.
pub const CHANNEL: &str = "breakglass";

/// What a notification says changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A break-glass window was opened or closed.
    State,
    /// Alert `id` was raised.
    Alert(i64),
    /// The setting with this name was written.
    Setting(String),
    /// API key `id` was revoked.
    KeyRevoked(i64),
    /// Sessions of operator `id` were ended.
    SessionsEnded(i64),
}

impl Notice {
    /// Reads a payload as the triggers write it; anything else is `None` (and ignored).
    pub fn parse(payload: &str) -> Option<Notice> {
        let id = |v: &str| v.parse::<i64>().ok();
        match payload.split_once(':') {
            None if payload == "state" => Some(Notice::State),
            Some(("alert", v)) => id(v).map(Notice::Alert),
            Some(("setting", v)) if !v.is_empty() => Some(Notice::Setting(v.to_owned())),
            Some(("key_revoked", v)) => id(v).map(Notice::KeyRevoked),
            Some(("sessions_ended", v)) => id(v).map(Notice::SessionsEnded),
            _ => None,
        }
    }
}

use crate::state::AppState;
use app::domain::Link;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::watch;

/// Pause between attempts to reconnect.
const RETRY: Duration = Duration::from_millis(500);
/// How often a quiet connection is checked, and how long the check may take: a
/// connection that died without a word (a cable, a firewall) is noticed within twice this.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Alerts raised up to this long before a disconnection are re-read on reconnecting, for
/// clocks and commits that straddle it.
const ALERT_MARGIN: TimeDelta = TimeDelta::seconds(10);

/// This replica's link to the others, read by `/readyz`, `/metrics` and activation.
pub struct Replication {
    link: watch::Sender<Link>,
    /// The PostgreSQL URL to listen on; `None` with SQLite.
    url: Option<String>,
}

enum Ended {
    Lost(String),
    Shutdown,
}

impl Replication {
    /// The single replica of an embedded store.
    pub fn embedded() -> Self {
        Self {
            link: watch::channel(Link::Embedded).0,
            url: None,
        }
    }

    /// A replica of a PostgreSQL store; `connect` starts listening.
    pub fn postgres(url: &str) -> Self {
        Self {
            link: watch::channel(Link::Disconnected).0,
            url: Some(url.to_owned()),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Link> {
        self.link.subscribe()
    }

    /// Starts listening, so that the server starts connected. Nothing to do for SQLite.
    pub async fn connect(&self) -> Result<Option<PgListener>, sqlx::Error> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let listener = listen(url).await?;
        self.link.send_replace(Link::Connected);
        Ok(Some(listener))
    }

    /// Applies notices until shutdown, reconnecting (and catching up) whenever the
    /// connection is lost.
    pub async fn run(&self, state: AppState, first: PgListener) {
        let Some(url) = &self.url else { return };
        let mut shutdown = state.shutdown.clone();
        let mut listener = Some(first);
        let mut lost_at: Option<DateTime<Utc>> = None;
        loop {
            let current = match listener.take() {
                Some(l) => Ok(l),
                None => reconnect(url, &state, lost_at).await,
            };
            match current {
                Ok(l) => {
                    self.link.send_replace(Link::Connected);
                    if lost_at.take().is_some() {
                        tracing::info!("reconnected to PostgreSQL and caught up");
                        state.break_glass.announce_link();
                    }
                    match follow(&state, l, &mut shutdown).await {
                        Ended::Shutdown => return,
                        Ended::Lost(why) => {
                            tracing::warn!(%why, "lost the PostgreSQL notification link; \
                                serving the last known state, activation refused");
                            lost_at = Some(state.clock.now());
                            self.link.send_replace(Link::Disconnected);
                            state.break_glass.announce_link();
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "reconnecting to PostgreSQL failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = stopped(&mut shutdown) => return,
            }
        }
    }
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    // A lost connection is reported, not silently re-established: reconnecting is this
    // module's job, because what was missed meanwhile must be read.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// LISTENs again, then reads what notices may have been missed since `lost_at`.
async fn reconnect(
    url: &str,
    state: &AppState,
    lost_at: Option<DateTime<Utc>>,
) -> Result<PgListener, sqlx::Error> {
    let listener = listen(url).await?;
    catch_up(state, lost_at).await?;
    Ok(listener)
}

async fn catch_up(state: &AppState, lost_at: Option<DateTime<Utc>>) -> Result<(), sqlx::Error> {
    state.break_glass.resync().await?;
    reload_shield_mode(state).await?;
    state.break_glass.reload_policy().await?;
    // Keys revoked meanwhile: every key is read again on its next request.
    state.api_keys.forget_all();
    let since = lost_at.unwrap_or_else(|| state.clock.now()) - ALERT_MARGIN;
    for alert in app::server::alerts::created_since(&state.pool, since).await? {
        state
            .events
            .publish(&app::domain::events::ServerEvent::Alert(alert));
    }
    // Sessions ended meanwhile: every open event stream checks its own.
    for id in app::server::operators::ids(&state.pool).await? {
        state.sessions.ended(id);
    }
    Ok(())
}

async fn reload_shield_mode(state: &AppState) -> Result<(), sqlx::Error> {
    state.shield_mode.reload().await
}

async fn follow(
    state: &AppState,
    mut listener: PgListener,
    shutdown: &mut watch::Receiver<bool>,
) -> Ended {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(n)) => {
                    if let Err(e) = apply(state, n.payload()).await {
                        // The notice is not lost: reconnecting reads everything again.
                        return Ended::Lost(format!("applying a notice: {e}"));
                    }
                }
                Ok(None) => return Ended::Lost("the connection closed".into()),
                Err(e) => return Ended::Lost(e.to_string()),
            },
            _ = heartbeat.tick() => {
                let ping = sqlx::query("SELECT 1").execute(&mut listener);
                match tokio::time::timeout(HEARTBEAT, ping).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("no answer to a heartbeat".into()),
                }
            }
            _ = stopped(shutdown) => return Ended::Shutdown,
        }
    }
}

async fn apply(state: &AppState, payload: &str) -> Result<(), sqlx::Error> {
    let Some(notice) = Notice::parse(payload) else {
        tracing::warn!(payload, "ignoring an unknown notification");
        return Ok(());
    };
    match notice {
        Notice::State => state.break_glass.resync().await?,
        Notice::Alert(id) => {
            if let Some(alert) = app::server::alerts::get(&state.pool, id).await? {
                state
                    .events
                    .publish(&app::domain::events::ServerEvent::Alert(alert));
            }
        }
        Notice::Setting(name) if name == app::server::shield::SETTING => {
            reload_shield_mode(state).await?
        }
        Notice::Setting(name)
            if [
                app::server::break_glass::POLICY_SETTING,
                app::server::break_glass::MODE_SETTING,
                app::server::break_glass::APPROVAL_SETTING,
                app::server::break_glass::REVIEW_GATE_SETTING,
            ]
            .contains(&name.as_str()) =>
        {
            state.break_glass.reload_policy().await?
        }
        // The Session Watcher's settings govern the watcher of the replica that wrote them
        // (docs/DEPLOYMENT.md: one replica runs it).
        Notice::Setting(_) => {}
        Notice::KeyRevoked(id) => state.api_keys.forget(id),
        Notice::SessionsEnded(id) => state.sessions.ended(id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_as_the_triggers_write_them() {
        assert_eq!(Notice::parse("state"), Some(Notice::State));
        assert_eq!(Notice::parse("alert:42"), Some(Notice::Alert(42)));
        assert_eq!(
            Notice::parse("setting:shield_mode"),
            Some(Notice::Setting("shield_mode".into()))
        );
        assert_eq!(Notice::parse("key_revoked:7"), Some(Notice::KeyRevoked(7)));
        assert_eq!(
            Notice::parse("sessions_ended:3"),
            Some(Notice::SessionsEnded(3))
        );
        for junk in [
            "", "state:1", "alert:", "alert:x", "setting:", "other:1", "STATE",
        ] {
            assert_eq!(Notice::parse(junk), None, "{junk:?}");
        }
    }
}
