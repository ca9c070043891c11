//! `rocketload check`: the preflight of a run, without the run.

use crate::cli::CheckArgs;
use crate::engine::Overrides;
use crate::runner::{Exit, Planned, RunRequest, report_error};

pub fn run(args: CheckArgs) -> u8 {
    let request = RunRequest {
        scenario: args.scenario,
        targets: args.targets,
        overrides: Overrides::default(),
        shard: args.shard,
        admin_password_file: args.access.admin_password_file,
        insecure: args.access.insecure,
        ..RunRequest::default()
    };
    let checked = Planned::resolve(request).and_then(|planned| {
        let runtime = crate::runner::runtime()?;
        runtime.block_on(planned.check())
    });
    match checked {
        Ok(report) => {
            print!("{}", report.render());
            if report.blocks() {
                eprintln!("a run of this scenario would stop here (exit 2); see the fixes above");
                Exit::BadInput.code()
            } else {
                Exit::Pass.code()
            }
        }
        Err(e) => {
            report_error(&e);
            e.exit().code()
        }
    }
}
