//! One side of a comparison: a run directory, a `summary.json`, or a
//! folder of run directories (repetitions of one setup, as `run --repeat`
//! writes them).

use std::path::{Path, PathBuf};

use super::CompareError;
use crate::results::{IntervalRecord, Intervals, Summary, load_run, runs_in};

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
    /// Reads `path` (through [`runs_in`] and [`load_run`], as `report` and
    /// `merge` do); every problem names its file. An unfinished run is
    /// refused, not compared: its totals stop where its process died.
    pub fn load(path: &Path) -> Result<Side, CompareError> {
        let runs = runs_in(path)?
            .iter()
            .map(|p| {
                let loaded = load_run(p, Intervals::IfPresent)?;
                if loaded.partial {
                    return Err(CompareError::Unfinished(loaded.source));
                }
                Ok(Run {
                    path: loaded.source,
                    summary: loaded.summary,
                    intervals: loaded.intervals,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
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
