//! One function per subcommand: flags in, exit code out. Errors are printed
//! here with their cause chain.

mod capacity;
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
