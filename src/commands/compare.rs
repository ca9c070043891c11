//! `rocketload compare BASE CANDIDATE...`: load -> compare -> render ->
//! gate -> exit code (0 no gated regression, 1 one found, 2 bad input, 74
//! the output not written).

use std::io::IsTerminal;
use std::path::Path;

use crate::cli::{CompareArgs, CompareFormat};
use crate::compare::gate::Gate;
use crate::compare::render::{self, Style};
use crate::compare::{CompareError, Options, Side, compare};
use crate::results::{ResultsError, write_file};
use crate::runner::{Exit, report_error};

pub fn run(args: CompareArgs) -> u8 {
    match compare_runs(args) {
        Ok(exit) => exit.code(),
        Err(e) => {
            report_error(&e);
            match e {
                CompareError::Results(ResultsError::Write { .. }) => Exit::WriteFailed.code(),
                _ => Exit::BadInput.code(),
            }
        }
    }
}

fn compare_runs(args: CompareArgs) -> Result<Exit, CompareError> {
    let base = Side::load(&args.base)?;
    let candidates = args
        .candidates
        .iter()
        .map(|p| Side::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = Options {
        min_effect: args.min_effect,
        ..Options::default()
    };
    let comparison = compare(&base, &candidates, &opts, args.force)?;
    let output = args.output.as_deref().unwrap_or(Path::new("-"));
    let to_stdout = output == Path::new("-");
    let mut bytes = Vec::new();
    let written = match args.format {
        CompareFormat::Json => serde_json::to_writer_pretty(&mut bytes, &comparison)
            .map_err(std::io::Error::from)
            .map(|()| bytes.push(b'\n')),
        CompareFormat::Md => render::write(&comparison, Style::Markdown, &mut bytes),
        CompareFormat::Text => {
            let colour = to_stdout
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            render::write(&comparison, Style::Text { colour }, &mut bytes)
        }
    };
    written.map_err(|source| ResultsError::Write {
        path: output.to_path_buf(),
        source,
    })?;
    write_file(output, &bytes)?;
    let gate = Gate::new(args.fail_on_regression);
    if gate.is_empty() {
        return Ok(Exit::Pass);
    }
    let failures = gate.failures(&comparison);
    if failures.is_empty() {
        return Ok(Exit::Pass);
    }
    eprintln!("regression beyond --fail-on-regression:");
    for f in &failures {
        eprintln!("  {f}");
    }
    Ok(Exit::ThresholdsFailed)
}
