//! Break-glass: the parsed activation input, the lifecycle state machine, and the status
//! clients see. (The server's service that stores and schedules it is `break_glass::service`.)

pub mod ended;
pub mod input;
pub mod machine;
pub mod policy;
pub mod scope;
pub mod status;

pub use ended::{
    review_path, Approval, AwaitingReview, EndedWindow, SignOff, WindowExtension, WindowPick,
};
pub use input::{
    AckNote, AcknowledgementRequest, Activation, ActivationRequest, BypassDuration, Confirmation,
    Extension, ExtensionMinutes, ExtensionRequest, Reason,
};
pub use machine::{EndKind, Lifecycle};
pub use policy::{AckMinutes, DrillDays, Mode, Policy, PolicyChange, PolicyRequest};
pub use scope::{BypassScope, ScopeChoice, ScopedKey};
pub use status::{ActivatedWindow, BreakGlassStatus, DeactivationSummary, Phase};
