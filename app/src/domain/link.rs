//! How a replica hears the others (the `replication` module keeps it).

use serde::{Deserialize, Serialize};

/// How this replica hears the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// SQLite: the only replica, nothing to hear.
    Embedded,
    /// Listening on PostgreSQL.
    Connected,
    /// The listening connection is lost; reconnecting.
    Disconnected,
}

impl Link {
    pub fn degraded(self) -> bool {
        self == Link::Disconnected
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Link::Embedded => "embedded",
            Link::Connected => "connected",
            Link::Disconnected => "disconnected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lost_link_is_degraded() {
        assert!(Link::Disconnected.degraded());
        assert!(!Link::Connected.degraded());
        assert!(!Link::Embedded.degraded());
    }
}
