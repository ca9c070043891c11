//! One function per subcommand: flags in, exit code out. Errors are printed
//! here with their cause chain.

mod capacity;
mod check;
mod cleanup;
mod compare;
mod merge;
mod report;
mod run;
mod scaling;
mod serve;
mod validate;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(args),
        Command::Cleanup(args) => cleanup::run(args),
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Capacity(args) => capacity::run(args),
        Command::Scaling(args) => scaling::run(args),
    }
}

/// Raises the soft limit on open files to the hard limit (as wrk and k6
/// do): every VU and every served session is a socket. Returns the limit
/// now in force.
pub fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

pub use crate::runner::report_error;

/// Preparing a target, on the terminal: a finding that is not `ok` is
/// said (a blocking one comes back as the error), then provisioning's bar
/// and every retry.
impl crate::runner::PrepareObserver for crate::results::Progress {
    fn preflight(&self, report: &crate::preflight::Preflight) {
        use crate::preflight::Level;
        let worst = report.findings.iter().map(|f| f.level).max();
        if worst == Some(Level::Warn) {
            self.say(report.render().trim_end());
        }
    }
}

impl crate::engine::ProvisionObserver for crate::results::Progress {
    fn progress(&self, done: u64, total: u64) {
        self.provision(done, total);
    }

    fn retry(&self, what: &str, why: &str, wait: std::time::Duration) {
        self.say(&format!(
            "provisioning: {what}: {why}, in {:.1} s",
            wait.as_secs_f64()
        ));
    }
}
