//! One run as a library call. [`Planned::resolve`] turns a request (flags
//! already typed) and its scenario into a plan without touching the
//! network; [`Planned::prepare`] makes the target ready once (embedded
//! server, target check, provisioning); [`Prepared::measure`] runs the load
//! and writes the results, as often as the caller wants (a capacity search
//! measures once per step, after one provisioning; [`Prepared::repeat`]
//! measures N times with a cool-down between). Exit codes are decided by
//! [`Exit`] only ([`exit_of`] for one run, [`Exit::worst`] for several).
//!
//! Sits above engine, metrics and results, below `commands/`; it is the
//! one place that starts the embedded server for a run.

mod configure;
mod error;
mod interrupt;
mod measure;
mod prepare;
mod repeat;
mod restart;
mod target;

pub use error::{Exit, Phase, RunError, report_error};
pub use interrupt::{Interrupt, Trigger};
pub use measure::{Measure, Measurement, exit_of};
pub use prepare::{Planned, PrepareObserver, Prepared, RunRequest, SHUTDOWN_GRACE, Target};
pub use repeat::{Repeat, Repeated, Repetition, exit_of_repetitions};
pub(crate) use repeat::{stop_on_signal, stopped};
pub use restart::{Restart, RestartHow};

/// The async runtime of a run. One core (e.g. under `taskset`): a
/// current-thread runtime does the same work without the work-stealing
/// scheduler's cross-thread wakeups.
pub fn runtime() -> Result<tokio::runtime::Runtime, RunError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = match cores {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build().map_err(RunError::Runtime)
}
