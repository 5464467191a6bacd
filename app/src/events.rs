//! Server-sent events: what the server pushes to every tab.

use crate::alerts::Alert;
use crate::break_glass::BreakGlassStatus;
use serde::{Deserialize, Serialize};

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
    use std::sync::Arc;
    use tokio::sync::broadcast;

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
    }

    impl EventHub {
        pub fn new(capacity: usize) -> Self {
            let (tx, _) = broadcast::channel(capacity);
            Self { tx }
        }

        pub fn publish(&self, event: &ServerEvent) {
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
