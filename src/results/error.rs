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
    #[error("{path} is not a rocketload summary: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{path}: unsupported summary schema {found} (this rocketload reads schema {supported})"
    )]
    Schema {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
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
