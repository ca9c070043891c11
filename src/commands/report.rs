//! `rocketload report RUN... [-o FILE] [--format F] [--intervals]`: renders
//! finished runs (their `summary.json`, schema 1 or 2) or partial ones (a
//! run directory whose process died: re-totalled from `run.json` and
//! `intervals.jsonl`) through the exporters. Exit 0 written, 2 bad input
//! (the file is named), 74 the output could not be written. A failed
//! threshold is rendered, not an exit status: `run` gates, `report` shows.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::cli::ReportArgs;
use crate::results::export::{self, ExportInput, Format};
use crate::results::{Intervals, Loaded, ResultsError, Summary, load_run, write_file};
use crate::runner::{Exit, report_error};

/// What went wrong, each naming its file or flag.
#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("-o {path}: unknown extension `.{ext}` (known: {known}); give --format", known = Format::EXTENSIONS)]
    UnknownExtension { path: PathBuf, ext: String },
    #[error(
        "--intervals applies to CSV only (the format is {0}); give --format csv or a .csv file"
    )]
    IntervalsNeedCsv(String),
}

impl ReportError {
    fn exit(&self) -> Exit {
        match self {
            ReportError::Results(ResultsError::Write { .. }) => Exit::WriteFailed,
            _ => Exit::BadInput,
        }
    }
}

pub fn run(args: ReportArgs) -> u8 {
    match report(&args) {
        Ok(()) => Exit::Pass.code(),
        Err(e) => {
            report_error(&e);
            e.exit().code()
        }
    }
}

fn report(args: &ReportArgs) -> Result<(), ReportError> {
    let output = args.output.as_deref().filter(|p| *p != Path::new("-"));
    let format = match (args.format, output) {
        (Some(f), _) => f,
        (None, Some(path)) => match path.extension() {
            None => Format::Text,
            Some(ext) => Format::from_path(path).ok_or_else(|| ReportError::UnknownExtension {
                path: path.to_path_buf(),
                ext: ext.to_string_lossy().into_owned(),
            })?,
        },
        (None, None) => Format::Text,
    };
    if args.intervals && format != Format::Csv {
        let name = format!("{format:?}").to_lowercase();
        return Err(ReportError::IntervalsNeedCsv(name));
    }
    let runs = args
        .runs
        .iter()
        .map(|p| {
            let intervals = match args.intervals {
                true => Intervals::Required,
                false => Intervals::Skip,
            };
            load_run(p, intervals)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (path, run) in args.runs.iter().zip(&runs) {
        if run.partial {
            eprintln!(
                "note: {}: partial run (no summary.json): totals re-computed from {} interval lines",
                path.display(),
                run.summary.run.intervals
            );
        }
    }
    let inputs: Vec<ExportInput<'_>> = runs.iter().map(Loaded::export_input).collect();
    let mut bytes = Vec::new();
    render(format, &inputs, &mut bytes).map_err(|source| ResultsError::Write {
        path: output.unwrap_or(Path::new("-")).to_path_buf(),
        source,
    })?;
    write_file(output.unwrap_or(Path::new("-")), &bytes)?;
    Ok(())
}

/// One run in `format`; several: in turn (JSON as an array, CSV with a
/// `run` column, JUnit one testsuite each).
fn render(format: Format, inputs: &[ExportInput<'_>], w: &mut dyn Write) -> io::Result<()> {
    if let [one] = inputs {
        return format.exporter().write(one, w);
    }
    match format {
        Format::Json => {
            let all: Vec<&Summary> = inputs.iter().map(|i| i.summary).collect();
            serde_json::to_writer_pretty(&mut *w, &all)?;
            writeln!(w)
        }
        Format::Csv => export::csv::write_runs(inputs, w),
        Format::Junit => export::junit::write_runs(inputs, w),
        Format::Text | Format::Markdown => {
            let exporter = format.exporter();
            for input in inputs {
                exporter.write(input, w)?;
            }
            Ok(())
        }
    }
}
