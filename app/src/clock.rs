//! The server's clock, injectable so that tests can move time.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
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
