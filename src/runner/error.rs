//! Why a run could not be done, and the one place that turns a run's end
//! into an exit code.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::engine::EngineError;
use crate::preflight::Preflight;
use crate::results::ResultsError;
use crate::scenario::ScenarioError;

/// The process exit status of a run, as the interface contract documents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every threshold held.
    Pass,
    /// A threshold failed.
    ThresholdsFailed,
    /// A bad scenario, flag or results file, or a target unreachable at start.
    BadInput,
    /// Results could not be written (disk full, permissions): sysexits'
    /// EX_IOERR, so a CI job can tell a broken runner from a broken server.
    WriteFailed,
    /// rocketload itself could not work (the async runtime did not start):
    /// sysexits' EX_SOFTWARE, neither bad input nor the target's fault.
    Internal,
    /// Ctrl-C: the partial results were written.
    Interrupted,
}

impl Exit {
    /// The worst of several ends (repetitions), by [`Exit::severity`];
    /// `Pass` for none.
    pub fn worst(exits: impl IntoIterator<Item = Exit>) -> Exit {
        exits
            .into_iter()
            .max_by_key(|e| e.severity())
            .unwrap_or(Exit::Pass)
    }

    /// How bad an end is, for [`Exit::worst`]: an interruption outranks
    /// everything (the user stopped it), then results not written (what
    /// was measured may be lost), an internal failure, bad input, a failed
    /// threshold, a pass.
    const fn severity(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::ThresholdsFailed => 1,
            Exit::BadInput => 2,
            Exit::Internal => 3,
            Exit::WriteFailed => 4,
            Exit::Interrupted => 5,
        }
    }

    pub const fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::ThresholdsFailed => 1,
            Exit::BadInput => 2,
            Exit::WriteFailed => 74,
            Exit::Internal => 70,
            Exit::Interrupted => 130,
        }
    }
}

/// What stopped a run before or while it measured.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Scenario(ScenarioError),
    /// Flags and scenario do not combine into a run.
    #[error("{0}")]
    Plan(String),
    #[error("embedded server: {0}")]
    Embedded(String),
    /// The target check, provisioning, or the engine's own set-up.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A results file could not be written.
    #[error(transparent)]
    Write(ResultsError),
    /// A results file given as input could not be read.
    #[error(transparent)]
    Read(ResultsError),
    /// The preflight found what stops the run (see [`Preflight::render`]).
    #[error("stopped before any load: the preflight found what would break this run\n{}", .0.render().trim_end())]
    Preflight(Box<Preflight>),
    /// `--configure-target` could not change the target's settings.
    #[error(transparent)]
    Configure(Box<super::configure::ConfigureError>),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// Ctrl-C before any load was sent.
    #[error("interrupted {during}: no load was sent{}", written(dir.as_deref()))]
    Interrupted {
        during: Phase,
        /// The results directory, when `run.json` was written.
        dir: Option<PathBuf>,
    },
}

/// Where a run was before its load started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting the embedded server, checking the target, provisioning.
    Preparing,
    /// Waiting for `--start-at`.
    StartAtWait,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Preparing => "while preparing the target",
            Phase::StartAtWait => "while waiting for --start-at",
        })
    }
}

fn written(dir: Option<&Path>) -> String {
    match dir {
        Some(d) => format!(" ({} holds run.json only)", d.display()),
        None => "; nothing was written".into(),
    }
}

impl RunError {
    pub fn exit(&self) -> Exit {
        match self {
            RunError::Write(_) => Exit::WriteFailed,
            RunError::Runtime(_) => Exit::Internal,
            RunError::Interrupted { .. } => Exit::Interrupted,
            RunError::Scenario(_)
            | RunError::Plan(_)
            | RunError::Embedded(_)
            | RunError::Engine(_)
            | RunError::Preflight(_)
            | RunError::Configure(_)
            | RunError::Read(_) => Exit::BadInput,
        }
    }
}

impl From<ResultsError> for RunError {
    /// Results errors met while running are write errors; readers map
    /// theirs to [`RunError::Read`] explicitly.
    fn from(e: ResultsError) -> RunError {
        RunError::Write(e)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Prints an error with its chain of causes on stderr.
pub fn report_error(err: &dyn std::error::Error) {
    eprintln!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

#[cfg(test)]
mod tests {
    use super::{Exit, RunError};

    #[test]
    fn worst_follows_the_documented_order() {
        use Exit::*;
        assert_eq!(Exit::worst([]), Pass);
        assert_eq!(
            Exit::worst([Pass, ThresholdsFailed, Pass]),
            ThresholdsFailed
        );
        assert_eq!(Exit::worst([ThresholdsFailed, BadInput]), BadInput);
        assert_eq!(Exit::worst([WriteFailed, BadInput, Pass]), WriteFailed);
        assert_eq!(Exit::worst([Interrupted, WriteFailed]), Interrupted);
        assert_eq!(Exit::worst([BadInput, Internal]), Internal);
        assert_eq!(Exit::worst([Internal, WriteFailed]), WriteFailed);
    }

    #[test]
    fn a_runtime_that_cannot_start_is_internal_not_bad_input() {
        let e = RunError::Runtime(std::io::Error::other("no threads"));
        assert_eq!(e.exit(), Exit::Internal);
        assert_eq!(e.exit().code(), 70);
    }
}
