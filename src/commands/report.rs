//! `rocketload report RUN... [-o FILE] [--format F] [--intervals]`: renders
//! finished runs (their `summary.json`, schema 1 or 2) or partial ones (a
//! run directory whose process died: re-totalled from `run.json` and
//! `intervals.jsonl`) through the exporters. Exit 0 written, 2 bad input
//! (the file is named), 74 the output could not be written. A failed
//! threshold is rendered, not an exit status: `run` gates, `report` shows.
//!
//! HTML (`-o report.html`): one page for every argument, runs overlaid and
//! compared (the first is the base); an argument that is a directory
//! holding `capacity.json` or `scaling.json` (and no run of its own) adds
//! that experiment's charts.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::cli::ReportArgs;
use crate::report::{Experiment, ExperimentError, comparison, experiment_file};
use crate::results::export::html::{Page, PageRun};
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
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    #[error(
        "{0} is a capacity or scaling directory: only the HTML report draws it; give -o FILE.html or --format html"
    )]
    ExperimentNeedsHtml(PathBuf),
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
    let mut experiments = Vec::new();
    let mut run_paths = Vec::new();
    for p in &args.runs {
        match experiment_file(p) {
            Some(file) if format == Format::Html => {
                experiments.push((p.clone(), Experiment::read(&file)?));
            }
            Some(_) => return Err(ReportError::ExperimentNeedsHtml(p.clone())),
            None => run_paths.push(p.clone()),
        }
    }
    let intervals = match (args.intervals, format) {
        (true, _) => Intervals::Required,
        (false, Format::Html) => Intervals::IfPresent,
        (false, _) => Intervals::Skip,
    };
    let runs = run_paths
        .iter()
        .map(|p| load_run(p, intervals))
        .collect::<Result<Vec<_>, _>>()?;
    for (path, run) in run_paths.iter().zip(&runs) {
        if run.partial {
            eprintln!(
                "note: {}: partial run (no summary.json): totals re-computed from {} interval lines",
                path.display(),
                run.summary.run.intervals
            );
        }
    }
    if format == Format::Html {
        let page = html_page(&runs, &experiments);
        return Ok(write_file(
            output.unwrap_or(Path::new("-")),
            page.as_bytes(),
        )?);
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
        Format::Text | Format::Markdown | Format::Html => {
            let exporter = format.exporter();
            for input in inputs {
                exporter.write(input, w)?;
            }
            Ok(())
        }
    }
}

/// The HTML page: every run overlaid, the comparison of the first with
/// the others, each experiment's charts.
fn html_page(runs: &[Loaded], experiments: &[(PathBuf, Experiment)]) -> String {
    let labels = labels(runs);
    let mut page = Page {
        runs: runs
            .iter()
            .zip(labels)
            .map(|(r, label)| PageRun {
                label,
                input: r.export_input(),
            })
            .collect(),
        sections: Vec::new(),
        notes: Vec::new(),
        compact: false,
    };
    if runs.len() > 1 {
        let all: Vec<&Loaded> = runs.iter().collect();
        match comparison::section(&all) {
            Ok(s) => {
                page.sections.push(s);
                page.compact = true;
            }
            Err(why) => page.notes.push(why),
        }
    }
    page.sections
        .extend(experiments.iter().map(|(dir, e)| e.section(dir)));
    page.render()
}

/// Each run's name on the page: its directory's name, or the whole path
/// when two would read the same.
fn labels(runs: &[Loaded]) -> Vec<String> {
    let short = |p: &Path| {
        let p = if p.file_name().is_some_and(|n| n == "summary.json") {
            p.parent().unwrap_or(p)
        } else {
            p
        };
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let names: Vec<String> = runs.iter().map(|r| short(&r.source)).collect();
    let unique = names
        .iter()
        .enumerate()
        .all(|(i, n)| !names[..i].contains(n));
    match unique {
        true => names,
        false => runs
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{}: {}", i + 1, r.source.display()))
            .collect(),
    }
}
