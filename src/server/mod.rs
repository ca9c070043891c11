//! The reference Rocket.Chat-compatible server.
pub mod cost;
pub mod faults;
pub mod metrics;
pub mod ratelimit;
pub mod sim;
