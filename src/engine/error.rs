//! Engine errors: what went wrong and where, for the CLI to print (exit 2
//! for bad input or an unreachable target). Protocol errors are kept as
//! the `source`, so the CLI's cause chain shows them once.

use thiserror::Error;

use crate::rocketchat::RcError;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("no target URL to run against")]
    NoTarget,
    #[error("invalid load plan: {0}")]
    Plan(String),
    #[error("target {url} is not reachable (GET /api/info)")]
    Unreachable {
        url: String,
        #[source]
        source: Box<RcError>,
    },
    #[error("target {url} does not look like Rocket.Chat: {message}")]
    NotRocketChat { url: String, message: String },
    #[error("provisioning {what} failed")]
    Provision {
        what: String,
        #[source]
        source: Box<RcError>,
    },
    #[error("provisioning: {0}")]
    ProvisionCheck(String),
    #[error("the run was set up wrong: {0}")]
    Setup(String),
}
