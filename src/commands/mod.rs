//! One function per subcommand: flags in, exit code out. Errors are printed
//! here with their cause chain.

mod run;
mod serve;
mod validate;

use crate::cli::{Cli, Command};

/// Exit codes of the interface contract.
pub const EXIT_OK: u8 = 0;
pub const EXIT_THRESHOLDS: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::run(args),
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
