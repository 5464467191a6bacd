//! Server-sent events: what the server pushes to every tab.

use crate::alerts::Alert;
use crate::domain::break_glass::BreakGlassStatus;
use serde::{Deserialize, Serialize};

/// The most event streams one session may hold at once. A browser shares one stream among its
/// tabs (`events-worker.js`); without shared workers each tab opens its own.
pub const MAX_STREAMS_PER_SESSION: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    Activated,
    Deactivated,
    Expired,
    CoolDownOver,
}

/// The `state` event: the full status (a snapshot on connect, then one per change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEvent {
    pub change: Option<StateChange>,
    pub status: BreakGlassStatus,
}

/// Every event the stream carries, with its SSE event name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    State(StateEvent),
    Alert(Alert),
}

impl ServerEvent {
    pub fn name(&self) -> &'static str {
        match self {
            ServerEvent::State(_) => "state",
            ServerEvent::Alert(_) => "alert",
        }
    }

    pub fn data_json(&self) -> String {
        let json = match self {
            ServerEvent::State(e) => serde_json::to_string(e),
            ServerEvent::Alert(a) => serde_json::to_string(a),
        };
        json.expect("event types serialise to JSON")
    }
}

#[cfg(feature = "ssr")]
pub use hub::{EventHub, Published};

#[cfg(feature = "ssr")]
mod hub {
    use super::ServerEvent;
    use std::collections::{HashSet, VecDeque};
    use std::sync::{Arc, Mutex};
    use tokio::sync::broadcast;

    /// How many alert ids a hub remembers having published.
    const REMEMBERED_ALERTS: usize = 4096;

    /// An event serialised once, shared by every subscriber.
    #[derive(Clone, Debug)]
    pub struct Published {
        pub name: &'static str,
        pub data: Arc<str>,
    }

    /// Fan-out of events to every open stream. A subscriber that falls behind is told so by the
    /// channel and resynchronises from a fresh snapshot.
    #[derive(Clone)]
    pub struct EventHub {
        tx: broadcast::Sender<Published>,
        alerts: Arc<Mutex<RecentAlerts>>,
    }

    /// The alerts already published: with several replicas, an alert raised here also comes
    /// back as a notification from the database, and each alert is pushed to a tab once.
    #[derive(Default)]
    struct RecentAlerts {
        ids: HashSet<i64>,
        order: VecDeque<i64>,
    }

    impl RecentAlerts {
        /// Remembers `id`; `false` if it was already remembered.
        fn first_time(&mut self, id: i64) -> bool {
            if !self.ids.insert(id) {
                return false;
            }
            self.order.push_back(id);
            if self.order.len() > REMEMBERED_ALERTS {
                if let Some(oldest) = self.order.pop_front() {
                    self.ids.remove(&oldest);
                }
            }
            true
        }
    }

    impl EventHub {
        pub fn new(capacity: usize) -> Self {
            let (tx, _) = broadcast::channel(capacity);
            Self {
                tx,
                alerts: Arc::default(),
            }
        }

        /// Sends `event` to every open stream; an alert already sent is not sent again.
        pub fn publish(&self, event: &ServerEvent) {
            if let ServerEvent::Alert(alert) = event {
                let mut alerts = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
                if !alerts.first_time(alert.id) {
                    return;
                }
            }
            let published = Published {
                name: event.name(),
                data: Arc::from(event.data_json()),
            };
            // No subscriber is not an error: nobody is watching.
            let _ = self.tx.send(published);
        }

        pub fn subscribe(&self) -> broadcast::Receiver<Published> {
            self.tx.subscribe()
        }

        pub fn subscriber_count(&self) -> usize {
            self.tx.receiver_count()
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::alerts::{Alert, AlertStatus, Severity};

    fn alert(id: i64) -> ServerEvent {
        ServerEvent::Alert(Alert {
            id,
            created_at: chrono::DateTime::from_timestamp_millis(0).unwrap(),
            severity: Severity::High,
            source: "break-glass".into(),
            title: "t".into(),
            message: "m".into(),
            status: AlertStatus::Open,
            window_id: None,
            link: None,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
        })
    }

    #[test]
    fn an_alert_reaches_subscribers_once_however_often_it_is_published() {
        let hub = EventHub::new(16);
        let mut rx = hub.subscribe();
        hub.publish(&alert(1));
        hub.publish(&alert(1));
        hub.publish(&alert(2));
        let names: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|p| p.data.to_string())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names[0].contains("\"id\":1") && names[1].contains("\"id\":2"));
    }
}
