//! Errors of writing and reading run results.

use std::io;
use std::path::PathBuf;

/// A results file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot create results directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{0} is not a run directory: no summary.json, and no run.json with intervals.jsonl to re-total"
    )]
    NotARun(PathBuf),
    #[error("{path} is not a {file}: {message}")]
    Parse {
        path: PathBuf,
        file: ResultsFile,
        message: String,
    },
    #[error(
        "{path}: unsupported {file} schema {found} (this rocketload reads schema {})",
        or_list(supported)
    )]
    Schema {
        path: PathBuf,
        file: ResultsFile,
        found: u64,
        supported: &'static [u32],
    },
}

/// Which results file could not be parsed, so the message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsFile {
    Summary,
    RunJson,
    Intervals,
}

impl std::fmt::Display for ResultsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResultsFile::Summary => "rocketload summary",
            ResultsFile::RunJson => "rocketload run.json",
            ResultsFile::Intervals => "rocketload intervals file",
        })
    }
}

/// `[1, 2, 3]` as "1, 2 or 3".
fn or_list(items: &[u32]) -> String {
    let texts: Vec<String> = items.iter().map(u32::to_string).collect();
    match texts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A serialized histogram could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistogramDecodeError {
    #[error("histogram is not valid base64: {0}")]
    Base64(String),
    #[error("histogram is not in HdrHistogram V2 compressed form: {0}")]
    Format(String),
    #[error("histogram is larger than {limit} bytes uncompressed")]
    TooLarge { limit: usize },
}
