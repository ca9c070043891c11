//! One side of a comparison: a run directory, a `summary.json`, or a
//! folder of run directories (repetitions of one setup, as `run --repeat`
//! writes them).

use std::path::{Path, PathBuf};

use super::CompareError;
use crate::results::{IntervalRecord, Summary, read_intervals, read_summary};

/// One finished run: its summary and, when its directory has them, its
/// interval lines.
#[derive(Clone, Debug)]
pub struct Run {
    pub path: PathBuf,
    pub summary: Summary,
    pub intervals: Option<Vec<IntervalRecord>>,
}

/// The runs one argument names.
#[derive(Clone, Debug)]
pub struct Side {
    pub label: PathBuf,
    pub runs: Vec<Run>,
}

impl Side {
    /// Reads `path`; every problem names its file.
    pub fn load(path: &Path) -> Result<Side, CompareError> {
        if !path.exists() {
            return Err(CompareError::Missing(path.to_path_buf()));
        }
        let runs = if path.is_file() || path.join("summary.json").is_file() {
            vec![read_run(path)?]
        } else if path.join("run.json").is_file() {
            return Err(CompareError::Unfinished(path.to_path_buf()));
        } else {
            let mut dirs = run_dirs(path)?;
            if dirs.is_empty() {
                return Err(CompareError::NoRuns(path.to_path_buf()));
            }
            dirs.sort_by_key(|d| natural_key(d));
            dirs.iter()
                .map(|d| read_run(d))
                .collect::<Result<Vec<_>, _>>()?
        };
        let side = Side {
            label: path.to_path_buf(),
            runs,
        };
        side.check_distinct()?;
        Ok(side)
    }

    fn check_distinct(&self) -> Result<(), CompareError> {
        for (i, a) in self.runs.iter().enumerate() {
            if let Some(b) = self.runs[i + 1..]
                .iter()
                .find(|b| b.summary.run.info.id == a.summary.run.info.id)
            {
                return Err(CompareError::Duplicate {
                    side: self.label.clone(),
                    id: a.summary.run.info.id.clone(),
                    first: a.path.clone(),
                    second: b.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// True when this side has a run with `id`.
    pub fn has_run(&self, id: &str) -> bool {
        self.runs.iter().any(|r| r.summary.run.info.id == id)
    }
}

/// Subdirectories holding a finished run (a `summary.json`); an
/// unfinished one among them is an error, not a silent gap.
fn run_dirs(folder: &Path) -> Result<Vec<PathBuf>, CompareError> {
    let read_err = |source| crate::results::ResultsError::Read {
        path: folder.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(read_err)? {
        let dir = entry.map_err(read_err)?.path();
        if !dir.is_dir() {
            continue;
        }
        if dir.join("summary.json").is_file() {
            out.push(dir);
        } else if dir.join("run.json").is_file() {
            return Err(CompareError::Unfinished(dir));
        }
    }
    Ok(out)
}

/// A run directory or summary file, with the interval lines beside it
/// when there are any.
fn read_run(path: &Path) -> Result<Run, CompareError> {
    let summary = read_summary(path)?;
    let dir = if path.is_dir() {
        path
    } else {
        path.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    let intervals = if dir.join("intervals.jsonl").is_file() {
        Some(read_intervals(dir)?)
    } else {
        None
    };
    Ok(Run {
        path: path.to_path_buf(),
        summary,
        intervals,
    })
}

/// `2` before `10`: numbers in names compare as numbers.
fn natural_key(path: &Path) -> (u64, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (name.parse().unwrap_or(u64::MAX), name)
}
