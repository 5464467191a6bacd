//! Break-glass on the server: the service that stores the lifecycle and schedules its expiry.
//! (The lifecycle itself, its input and its status are pure: `crate::domain::break_glass`.)

pub mod service;
