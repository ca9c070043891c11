//! The results directory of one run, written as the run goes:
//! `run.json` at the start, one `intervals.jsonl` line per interval,
//! `summary.json` at the end.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::ResultsError;
use super::host::Host;
use super::info::{RunInfo, TargetInfo, Tool};
use super::intervals::IntervalRecord;
use super::sink::{IntervalSink, Tick};
use super::summary::{SCHEMA, Summary};

/// Owns a run's results directory.
pub struct RunWriter {
    dir: PathBuf,
    intervals: File,
}

/// `run.json`: who ran what, against what, written before any load.
#[derive(Serialize)]
struct RunFile<'a> {
    schema: u32,
    run: &'a RunInfo,
    tool: &'a Tool,
    host: &'a Host,
    target: &'a TargetInfo,
}

/// Writes `value` as pretty JSON with [`write_file`].
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ResultsError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| ResultsError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    text.push(b'\n');
    write_file(path, &text)
}

/// Writes `bytes` to `path` (`-`: stdout, where a closed pipe is not an
/// error), creating its directory; aside then renamed, so a reader never
/// sees half a file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    let err = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if path == Path::new("-") {
        return match std::io::stdout().lock().write_all(bytes) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(err(e)),
            _ => Ok(()),
        };
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

impl RunWriter {
    /// Creates `dir` (and parents) and writes `run.json`.
    pub fn create(
        dir: &Path,
        info: &RunInfo,
        tool: &Tool,
        host: &Host,
        target: &TargetInfo,
    ) -> Result<RunWriter, ResultsError> {
        std::fs::create_dir_all(dir).map_err(|source| ResultsError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        // A summary left by an earlier run in the same directory would pass
        // for this run's until it finishes.
        let stale = dir.join("summary.json");
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ResultsError::Write {
                    path: stale,
                    source: e,
                });
            }
            _ => {}
        }
        write_json(
            &dir.join("run.json"),
            &RunFile {
                schema: SCHEMA,
                run: info,
                tool,
                host,
                target,
            },
        )?;
        let path = dir.join("intervals.jsonl");
        let intervals = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| ResultsError::Write { path, source })?;
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            intervals,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl RunWriter {
    /// Appends one line to `intervals.jsonl`, flushed before returning.
    pub fn append(&mut self, line: &IntervalRecord) -> Result<(), ResultsError> {
        let path = || self.dir.join("intervals.jsonl");
        let mut bytes = serde_json::to_vec(line).map_err(|e| ResultsError::Write {
            path: path(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        // One write per line: a crash leaves whole lines only (or a cut
        // last line, which readers skip).
        self.intervals
            .write_all(&bytes)
            .and_then(|()| self.intervals.flush())
            .map_err(|source| ResultsError::Write {
                path: path(),
                source,
            })
    }
}

impl IntervalSink for RunWriter {
    /// Appends the interval's line to `intervals.jsonl`.
    fn interval(&mut self, tick: &Tick<'_>) -> Result<(), ResultsError> {
        let mut line = IntervalRecord::of(tick.interval, Some(tick.stage));
        line.target.clone_from(tick.target);
        self.append(&line)
    }

    /// Writes `summary.json`.
    fn finish(&mut self, summary: &Summary) -> Result<(), ResultsError> {
        write_json(&self.dir.join("summary.json"), summary)
    }
}
