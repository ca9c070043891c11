//! rocketload: load tests and capacity benchmarks for Rocket.Chat.
//!
//! Data flows one way: `scenario` -> `engine` -> `rocketchat` -> `metrics`
//! -> `results`. `server` is the reference Rocket.Chat the tests and the
//! embedded default run against; it shares no code with the load side but
//! the `/metrics` HTTP endpoint (`exposition`), which carries no figures.

pub mod capacity;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod engine;
pub mod exposition;
pub mod metrics;
pub mod preflight;
pub mod report;
pub mod results;
pub mod rocketchat;
pub mod runner;
pub mod scenario;
pub mod scrape;
pub mod server;
