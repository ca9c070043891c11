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
use crate::results::{
    Host, IntervalRecord, Note, NoteKind, ResultsError, RunInfo, Summary, SummaryParts, TargetInfo,
    Tool, parse_summary, read_intervals, read_summary, totals_of, write_file,
};
use crate::runner::{Exit, report_error};

/// What went wrong, each naming its file or flag.
#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(
        "{0} is not a run directory: no summary.json, and no run.json with intervals.jsonl to re-total"
    )]
    NotARun(PathBuf),
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

/// One run, read.
struct Loaded {
    summary: Summary,
    intervals: Option<Vec<IntervalRecord>>,
    partial: bool,
}

impl Loaded {
    fn input(&self) -> ExportInput<'_> {
        ExportInput {
            summary: &self.summary,
            intervals: self.intervals.as_deref(),
            partial: self.partial,
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
        .map(|p| load(p, args.intervals))
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
    let inputs: Vec<ExportInput<'_>> = runs.iter().map(Loaded::input).collect();
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

/// A run directory or a summary file; `intervals`: also its interval
/// lines (from the directory, or the one holding the summary file).
fn load(path: &Path, intervals: bool) -> Result<Loaded, ReportError> {
    if path.is_dir() && !path.join("summary.json").exists() {
        return load_partial(path, intervals);
    }
    let summary = read_summary(path)?;
    let dir = if path.is_dir() {
        path
    } else {
        path.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    let intervals = if intervals {
        Some(read_intervals(dir)?)
    } else {
        None
    };
    Ok(Loaded {
        summary,
        intervals,
        partial: false,
    })
}

/// A run directory without `summary.json`: its totals from the interval
/// lines, its identity from `run.json`, no thresholds (the scenario's
/// limits are not in the run files).
fn load_partial(dir: &Path, intervals: bool) -> Result<Loaded, ReportError> {
    let run_json = dir.join("run.json");
    if !run_json.exists() || !dir.join("intervals.jsonl").exists() {
        return Err(ReportError::NotARun(dir.to_path_buf()));
    }
    let (info, tool, host, target) = read_run_json(&run_json)?;
    let records = read_intervals(dir)?;
    let totals = totals_of(&records);
    let ended_unix_ms = records.last().map_or(info.started_unix_ms, |r| {
        r.start_unix_ms + (r.duration_s * 1000.0).round() as u64
    });
    let note = Note::new(
        NoteKind::Other,
        format!(
            "partial: no summary.json (the run did not finish); totals re-computed from {} interval lines of intervals.jsonl, thresholds not evaluated",
            records.len()
        ),
    );
    let summary = Summary::build(
        SummaryParts {
            info,
            tool,
            host,
            target,
            thresholds: vec![],
            notes: vec![note],
            ended_unix_ms,
        },
        &totals,
    );
    Ok(Loaded {
        summary,
        intervals: intervals.then_some(records),
        partial: true,
    })
}

/// `run.json`'s identity parts. Schema 2 holds them as they are; schema 1
/// is carried over by the schema-1 summary reader (given the end fields
/// run.json lacks).
fn read_run_json(path: &Path) -> Result<(RunInfo, Tool, Host, TargetInfo), ResultsError> {
    let parse = |message: String| ResultsError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    if schema == Some(1) {
        let run = value
            .get_mut("run")
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| parse("no `run` object".into()))?;
        run.insert("ended_unix_ms".into(), 0.into());
        run.insert("duration_s".into(), 0.0.into());
        run.insert("intervals".into(), 0.into());
        value["metrics"] = serde_json::json!({});
        let s = parse_summary(&value.to_string(), path)?;
        return Ok((s.run.info, s.tool, s.host, s.target));
    }
    if schema != Some(u64::from(crate::results::SCHEMA)) {
        return Err(match schema {
            Some(found) => ResultsError::Schema {
                path: path.to_path_buf(),
                found,
                supported: crate::results::SCHEMA,
            },
            None => parse("no numeric `schema` field".into()),
        });
    }
    fn part<T: serde::de::DeserializeOwned>(
        value: &mut serde_json::Value,
        key: &str,
    ) -> Result<T, String> {
        serde_json::from_value(
            value
                .get_mut(key)
                .map(serde_json::Value::take)
                .ok_or_else(|| format!("no `{key}` object"))?,
        )
        .map_err(|e| format!("`{key}`: {e}"))
    }
    Ok((
        part(&mut value, "run").map_err(parse)?,
        part(&mut value, "tool").map_err(parse)?,
        part(&mut value, "host").map_err(parse)?,
        part(&mut value, "target").map_err(parse)?,
    ))
}
