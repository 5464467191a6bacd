//! The server's clock, injectable so that tests can move time.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now() >= deadline`.
    fn sleep_until(
        &self,
        deadline: DateTime<Utc>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(
        &self,
        deadline: DateTime<Utc>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let left = deadline - Utc::now();
                if left <= chrono::TimeDelta::zero() {
                    return;
                }
                // Sleep in bounded steps so that a wall-clock jump is noticed.
                let step = left
                    .to_std()
                    .unwrap_or_default()
                    .min(std::time::Duration::from_secs(30));
                tokio::time::sleep(step).await;
            }
        })
    }
}

/// A clock that moves only when told to, for tests of expiry and cool-down.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    changed: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(start),
            changed: watch::channel(start).0,
        })
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        let mut now = self.now.lock().expect("clock lock");
        *now += by;
        self.changed.send_replace(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    fn sleep_until(
        &self,
        deadline: DateTime<Utc>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let mut rx = self.changed.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock, which outlives this borrow.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

/// The time as the shared database tells it, for replicas on PostgreSQL: `source` (the
/// system's clock) corrected by its offset from the database's `clock_timestamp()`, measured
/// at start and again every `REMEASURE`. Every replica then judges expiry and the cool-down by
/// one clock, so a replica whose own clock runs ahead cannot shorten a cool-down (nor one
/// behind lengthen a window).
pub struct DatabaseClock {
    source: SharedClock,
    offset_ms: watch::Sender<i64>,
}

impl DatabaseClock {
    /// How often the offset is measured again.
    pub const REMEASURE: Duration = Duration::from_secs(60);
    /// An offset beyond this is logged as a warning: the replica's clock needs attention.
    pub const WARN_OFFSET: TimeDelta = TimeDelta::seconds(1);

    /// Measures the offset over a connection of its own to `url` and keeps measuring it.
    pub async fn connect(url: &str, source: SharedClock) -> Result<Arc<Self>, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let offset = measure(&pool, &*source).await?;
        let clock = Arc::new(Self {
            source,
            offset_ms: watch::channel(offset).0,
        });
        let weak = Arc::downgrade(&clock);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Self::REMEASURE).await;
                let Some(clock) = weak.upgrade() else {
                    return;
                };
                match measure(&pool, &*clock.source).await {
                    Ok(offset) => {
                        clock
                            .offset_ms
                            .send_if_modified(|old| std::mem::replace(old, offset) != offset);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read the database's clock"),
                }
            }
        });
        Ok(clock)
    }

    /// How far the database's clock is ahead of the source's.
    pub fn offset(&self) -> TimeDelta {
        TimeDelta::milliseconds(*self.offset_ms.borrow())
    }
}

/// The database's time minus the source's, read at the midpoint of the round trip.
async fn measure(pool: &sqlx::AnyPool, source: &dyn Clock) -> Result<i64, sqlx::Error> {
    let before = source.now();
    let database: i64 =
        sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")
            .fetch_one(pool)
            .await?;
    let after = source.now();
    let midpoint = before + (after - before) / 2;
    let offset = database - midpoint.timestamp_millis();
    if TimeDelta::milliseconds(offset).abs() > DatabaseClock::WARN_OFFSET {
        tracing::warn!(
            offset_ms = offset,
            "this replica's clock is off the database's; the database's time is used"
        );
    }
    Ok(offset)
}

impl Clock for DatabaseClock {
    fn now(&self) -> DateTime<Utc> {
        self.source.now() + self.offset()
    }

    fn sleep_until(
        &self,
        deadline: DateTime<Utc>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let mut changed = self.offset_ms.subscribe();
        Box::pin(async move {
            loop {
                let offset = TimeDelta::milliseconds(*changed.borrow_and_update());
                if self.source.now() + offset >= deadline {
                    return;
                }
                tokio::select! {
                    () = self.source.sleep_until(deadline - offset) => {}
                    // The offset moved: the deadline on the source's clock moved with it.
                    _ = changed.changed() => {}
                }
            }
        })
    }
}
