//! The engine: turns a run plan into load. Executors (closed: ramping VUs;
//! open: arrival rate) drive VUs through the `VuDriver` seam; each VU
//! interprets its behaviour's steps against any Rocket.Chat target. The
//! engine never imports `server/`.
//!
//! Entry points: [`RunPlan::new`], [`check_target`], [`provision`],
//! [`execute`].

pub mod admin;
pub mod arrivals;
pub mod clock;
pub mod closed;
mod error;
pub mod errors;
pub mod executor;
pub mod open;
pub mod plan;
pub mod profile;
mod provision;
mod rooms;
mod run;
pub mod sink;
mod steps;
pub mod think;
pub mod vu;
pub mod world;

pub use admin::Admin;
pub use error::EngineError;
pub use plan::{Overrides, RunPlan};
pub use provision::{
    EMAIL_DOMAIN, ProvisionObserver, ProvisionReport, Provisioned, Retries, ServerInfo,
    check_target, cleanup, email_of, provision,
};
pub use run::{EngineReport, EngineStatus, execute};
pub use vu::EngineNote;
pub use world::World;
