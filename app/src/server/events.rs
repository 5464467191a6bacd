use crate::domain::events::ServerEvent;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::{Alert, AlertStatus, Severity};
    use crate::domain::events::ServerEvent;

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
