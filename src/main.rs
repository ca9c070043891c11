use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rocketload::cli::Cli::parse();
    ExitCode::from(rocketload::commands::dispatch(cli))
}
