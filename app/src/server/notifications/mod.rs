//! Notifications: the channels admins configure, the outbox every event writes into, and the
//! delivery log. The worker that sends (and the senders) is the server's; this service is
//! what both doors call.

pub mod channels;
pub mod outbox;

use crate::domain::alerts::Severity;
use crate::domain::audit;
use crate::domain::notifications::{
    Channel, ChannelRequest, ChannelSpec, Delivery, Notice, Secret, Topic,
};
use crate::domain::{Actor, AppError, Field, FieldError, Permission};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, Pool};
use crate::server::secrets::Sealer;

/// How many deliveries the log shows.
pub const LOG_SIZE: u32 = 200;

#[derive(Clone)]
pub struct Notifications {
    pool: Pool,
    clock: SharedClock,
    /// From `BREAKGLASS_SECRETS_KEY`; without it only `env:NAME` secrets can be given.
    sealer: Option<Sealer>,
}

/// Where a notification goes, its secret opened: what a sender needs.
pub struct Destination {
    pub channel: Channel,
    pub secret: Option<String>,
}

impl Notifications {
    pub fn new(pool: Pool, clock: SharedClock, sealer: Option<Sealer>) -> Self {
        Self {
            pool,
            clock,
            sealer,
        }
    }

    pub async fn channels(&self, actor: &Actor) -> Result<Vec<Channel>, AppError> {
        actor.require(Permission::NotificationsConfigure)?;
        Ok(channels::list(&self.pool).await?)
    }

    /// Adds a channel (admins): its secret sealed, audited without it.
    pub async fn add_channel(
        &self,
        actor: &Actor,
        raw: ChannelRequest,
    ) -> Result<Channel, AppError> {
        actor.require(Permission::NotificationsConfigure)?;
        let spec = ChannelSpec::try_from(raw)?;
        let secret = match &spec.secret {
            None => None,
            Some(Secret::Env(name)) => Some(format!("env:{name}")),
            Some(Secret::Value(value)) => {
                let sealer = self.sealer.as_ref().ok_or_else(|| {
                    FieldError::new(
                        if spec.kind == crate::domain::notifications::ChannelKind::Slack {
                            Field::Url
                        } else {
                            Field::Secret
                        },
                        "This server cannot store secrets: set BREAKGLASS_SECRETS_KEY (64 hex \
                         digits, the same on every replica), or give env:NAME",
                    )
                })?;
                Some(sealer.seal(value))
            }
        };
        let now = self.clock.now();
        let by = &actor.operator.username;
        let mut tx = database::begin(&self.pool).await?;
        let stored = channels::insert(&mut tx, &spec, secret, now, by)
            .await?
            .ok_or_else(|| {
                FieldError::new(Field::Name, format!("A channel named {} exists", spec.name))
            })?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::CHANNEL_ADD,
            serde_json::json!({
                "channel_id": stored.channel.id,
                "name": spec.name,
                "kind": spec.kind.as_str(),
                "endpoint": spec.endpoint,
                "topics": spec.topics.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(stored.channel)
    }

    /// Removes a channel (admins), audited; what it had not delivered fails as removed.
    pub async fn remove_channel(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        actor.require(Permission::NotificationsConfigure)?;
        let now = self.clock.now();
        let mut tx = database::begin(&self.pool).await?;
        let name = channels::delete(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("Channel {id}")))?;
        audit_trail::record(
            &mut tx,
            now,
            &actor.operator.username,
            audit::CHANNEL_REMOVE,
            serde_json::json!({ "channel_id": id, "name": name }),
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends a test notification to one channel (admins): it goes through the outbox like any
    /// other, so the delivery log shows whether the channel works.
    pub async fn test_channel(&self, actor: &Actor, id: i64) -> Result<Delivery, AppError> {
        actor.require(Permission::NotificationsConfigure)?;
        let now = self.clock.now();
        let by = &actor.operator.username;
        let mut tx = database::begin(&self.pool).await?;
        audit_trail::record(
            &mut tx,
            now,
            by,
            audit::CHANNEL_TEST,
            serde_json::json!({ "channel_id": id }),
            actor.source_addr.as_deref(),
        )
        .await?;
        let channel = channels::get(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("Channel {id}")))?
            .channel;
        let delivery = outbox::enqueue_for(
            &mut tx,
            &channel,
            &Notice {
                topic: Topic::Test,
                at: now,
                severity: Severity::Info,
                title: format!("Test notification for {}", channel.name),
                message: format!(
                    "{by} sent this test from the Configuration panel. If you read it, \
                     break-glass notifications reach this channel."
                ),
                window_id: None,
                link: Some("/configuration".to_owned()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// The delivery log: the newest notifications and how each went.
    pub async fn deliveries(&self, actor: &Actor) -> Result<Vec<Delivery>, AppError> {
        actor.require(Permission::AlertsRead)?;
        Ok(outbox::recent(&self.pool, LOG_SIZE).await?)
    }

    /// The channel `id` with its secret opened, for the worker; `Err` says why it cannot be
    /// sent to (removed, a secret that does not open, a missing environment variable).
    pub async fn destination(&self, id: Option<i64>) -> Result<Destination, String> {
        let id = id.ok_or("the channel was removed")?;
        let mut conn = self.pool.acquire().await.map_err(|e| e.to_string())?;
        let stored = channels::get(&mut conn, id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the channel was removed")?;
        let secret = match stored.secret.as_deref() {
            None => None,
            Some(env) if env.starts_with("env:") => {
                let name = &env[4..];
                Some(std::env::var(name).map_err(|_| {
                    format!("the environment variable {name} is not set on this replica")
                })?)
            }
            Some(sealed) => Some(self.sealer.as_ref().and_then(|s| s.open(sealed)).ok_or(
                "the stored secret does not open with this replica's BREAKGLASS_SECRETS_KEY",
            )?),
        };
        Ok(Destination {
            channel: stored.channel,
            secret,
        })
    }
}
