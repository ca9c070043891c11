//! `rocketload merge RUN... -o OUT [--force]`: flags -> read the runs ->
//! [`results::merge`](crate::results::merge) -> write OUT like a run
//! directory -> print the merged summary -> exit code. Exit 0 merged and
//! every merged threshold holds, 1 a merged threshold failed (a sharded
//! test passes or fails as a whole), 2 bad input (the file is named), 74
//! the output could not be written.

use std::path::{Path, PathBuf};

use crate::cli::MergeArgs;
use crate::results::merge::{MergeError, Merged, merge};
use crate::results::{
    IntervalSink, Intervals, ResultsError, RunWriter, load_run, print_summary, runs_in,
};
use crate::runner::{Exit, report_error};

/// What went wrong, each naming its file.
#[derive(Debug, thiserror::Error)]
enum MergeCmdError {
    #[error(transparent)]
    Read(ResultsError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error("-o {}: already holds a run; choose another directory, or give --force to replace it", .0.display())]
    OutputExists(PathBuf),
    #[error("-o {}: is also one of the runs merged; choose another directory", .0.display())]
    OutputIsInput(PathBuf),
    #[error(transparent)]
    Write(ResultsError),
}

impl MergeCmdError {
    fn exit(&self) -> Exit {
        match self {
            MergeCmdError::Write(_) => Exit::WriteFailed,
            _ => Exit::BadInput,
        }
    }
}

pub fn run(args: MergeArgs) -> u8 {
    match merge_runs(&args) {
        Ok(merged) => {
            let _ = print_summary(&merged.summary, &mut std::io::stdout().lock());
            println!("results: {}", args.output.display());
            match merged.summary.passed() {
                true => Exit::Pass.code(),
                false => Exit::ThresholdsFailed.code(),
            }
        }
        Err(e) => {
            report_error(&e);
            e.exit().code()
        }
    }
}

fn merge_runs(args: &MergeArgs) -> Result<Merged, MergeCmdError> {
    let mut paths = Vec::new();
    for p in &args.runs {
        paths.extend(runs_in(p).map_err(MergeCmdError::Read)?);
    }
    check_output(&args.output, &paths, args.force)?;
    let parts = paths
        .iter()
        .map(|p| load_run(p, Intervals::IfPresent))
        .collect::<Result<Vec<_>, _>>()
        .map_err(MergeCmdError::Read)?;
    for p in parts.iter().filter(|p| p.partial) {
        eprintln!(
            "note: {}: partial run (no summary.json): totals re-computed from {} interval lines",
            p.source.display(),
            p.summary.run.intervals
        );
    }
    let merged = merge(&parts, args.force, std::env::args().collect())?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    write(&args.output, &merged).map_err(MergeCmdError::Write)?;
    Ok(merged)
}

/// OUT must not be an input, nor (without --force) hold a run already.
fn check_output(out: &Path, inputs: &[PathBuf], force: bool) -> Result<(), MergeCmdError> {
    if let Ok(out_dir) = out.canonicalize() {
        let is_input = inputs.iter().any(|p| {
            let dir = if p.is_dir() {
                p.as_path()
            } else {
                p.parent().unwrap_or(p)
            };
            dir.canonicalize().is_ok_and(|d| d == out_dir)
        });
        if is_input {
            return Err(MergeCmdError::OutputIsInput(out.to_path_buf()));
        }
    }
    let holds_run = ["summary.json", "run.json", "intervals.jsonl"]
        .iter()
        .any(|f| out.join(f).exists());
    if holds_run && !force {
        return Err(MergeCmdError::OutputExists(out.to_path_buf()));
    }
    Ok(())
}

/// OUT as a run directory: run.json, the interval lines, summary.json.
fn write(out: &Path, merged: &Merged) -> Result<(), ResultsError> {
    let s = &merged.summary;
    let mut writer = RunWriter::create(out, &s.run.info, &s.tool, &s.host, &s.target)?;
    for line in &merged.intervals {
        writer.append(line)?;
    }
    writer.finish(s)
}
