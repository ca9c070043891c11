//! Reading a run back: a finished one from its `summary.json` (schema 1 or
//! 2), a partial one (its process died) re-totalled from `run.json` and
//! `intervals.jsonl`. `report` and `merge` read runs through here.

use std::path::{Path, PathBuf};

use super::error::{ResultsError, ResultsFile};
use super::export::ExportInput;
use super::host::Host;
use super::info::{RunInfo, TargetInfo, Tool};
use super::intervals::{IntervalRecord, read_intervals, totals_of};
use super::notes::{Note, NoteKind};
use super::summary::{
    READS_SCHEMAS, SCHEMA, Summary, SummaryParts, parse_summary_as, read_summary,
};

/// One run, read.
#[derive(Debug)]
pub struct Loaded {
    /// The file or directory it was read from, as given.
    pub source: PathBuf,
    pub summary: Summary,
    /// Its interval lines, when asked for (and, with
    /// [`Intervals::IfPresent`], found).
    pub intervals: Option<Vec<IntervalRecord>>,
    /// Re-totalled from the interval lines: there was no `summary.json`.
    pub partial: bool,
}

impl Loaded {
    /// What the exporters render.
    pub fn export_input(&self) -> ExportInput<'_> {
        ExportInput {
            summary: &self.summary,
            intervals: self.intervals.as_deref(),
            partial: self.partial,
        }
    }
}

/// Whether to read a run's interval lines too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intervals {
    Skip,
    /// A run without `intervals.jsonl` is an error.
    Required,
    /// Read them when the run has them.
    IfPresent,
}

/// The runs `path` stands for: itself when it is a file or a run
/// directory, else the run directories directly inside it (sorted by
/// name, numbers as numbers: `2` before `10`); a directory with none is
/// an error naming it.
pub fn runs_in(path: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    let is_run = |d: &Path| d.join("summary.json").exists() || d.join("run.json").exists();
    if !path.is_dir() || is_run(path) {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|d| d.is_dir() && is_run(d))
        .collect();
    runs.sort_by_key(|d| natural_key(d));
    match runs.is_empty() {
        true => Err(ResultsError::NotARun(path.to_path_buf())),
        false => Ok(runs),
    }
}

/// `2` before `10`: a name that is a number sorts as one.
fn natural_key(path: &Path) -> (u64, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name.parse().unwrap_or(u64::MAX), name)
}

/// Reads a run directory or a summary file; a directory without
/// `summary.json` is read as a partial run. The interval lines come from
/// the directory, or the one holding the summary file.
pub fn load_run(path: &Path, intervals: Intervals) -> Result<Loaded, ResultsError> {
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
    let intervals = match intervals {
        Intervals::Skip => None,
        Intervals::Required => Some(read_intervals(dir)?),
        Intervals::IfPresent if dir.join("intervals.jsonl").exists() => Some(read_intervals(dir)?),
        Intervals::IfPresent => None,
    };
    Ok(Loaded {
        source: path.to_path_buf(),
        summary,
        intervals,
        partial: false,
    })
}

/// A run directory without `summary.json`: its totals from the interval
/// lines, its identity from `run.json`, no thresholds (the scenario's
/// limits are not in the run files).
fn load_partial(dir: &Path, intervals: Intervals) -> Result<Loaded, ResultsError> {
    let run_json = dir.join("run.json");
    if !run_json.exists() || !dir.join("intervals.jsonl").exists() {
        return Err(ResultsError::NotARun(dir.to_path_buf()));
    }
    let (info, tool, host, target) = read_run_json(&run_json)?;
    let records = read_intervals(dir)?;
    let totals = totals_of(&records);
    let ended_unix_ms = records.last().map_or(info.started_unix_ms, |r| {
        r.start_unix_ms + (r.duration_s * 1000.0).round() as u64
    });
    let note = Note::new(
        NoteKind::Partial,
        format!(
            "partial: no summary.json (the run did not finish); totals re-computed from {} interval lines of intervals.jsonl, thresholds not evaluated",
            records.len()
        ),
    );
    let mut summary = Summary::build(
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
    summary.target_metrics = super::target::from_intervals(&records);
    Ok(Loaded {
        source: dir.to_path_buf(),
        summary,
        intervals: (intervals != Intervals::Skip).then_some(records),
        partial: true,
    })
}

/// `run.json`'s identity parts. Schema 2 holds them as they are; schema 1
/// is carried over by the schema-1 summary reader (given the end fields
/// run.json lacks).
fn read_run_json(path: &Path) -> Result<(RunInfo, Tool, Host, TargetInfo), ResultsError> {
    let parse = |message: String| ResultsError::Parse {
        path: path.to_path_buf(),
        file: ResultsFile::RunJson,
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
        let s = parse_summary_as(&value.to_string(), path, ResultsFile::RunJson)?;
        return Ok((s.run.info, s.tool, s.host, s.target));
    }
    if schema != Some(u64::from(SCHEMA)) {
        return Err(match schema {
            Some(found) => ResultsError::Schema {
                path: path.to_path_buf(),
                file: ResultsFile::RunJson,
                found,
                supported: READS_SCHEMAS,
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
