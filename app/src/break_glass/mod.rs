//! Break-glass: the parsed activation input, the lifecycle state machine, the status clients see
//! and, on the server, the service that stores and schedules it.

pub mod input;
pub mod machine;
pub mod status;

#[cfg(feature = "ssr")]
pub mod service;

pub use input::{Activation, ActivationRequest, BypassDuration, Confirmation, Reason, WireField};
pub use machine::{EndKind, Lifecycle};
pub use status::{ActivatedWindow, BreakGlassStatus, DeactivationSummary, Phase};
