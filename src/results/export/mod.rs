//! Exporters: a finished (or partial) run rendered in one format each,
//! behind one small trait (after hyperfine's `src/export/`). The format is
//! picked from a file's extension unless given.

use std::io::{self, Write};
use std::path::Path;

use super::error::ResultsError;
use super::intervals::IntervalRecord;
use super::summary::Summary;

pub mod csv;
pub mod html;
mod json;
pub mod junit;
mod markdown;
mod text;

#[cfg(test)]
mod tests;

/// What an exporter renders: the summary, and the interval lines when the
/// caller has them (a run directory) and asked for them.
pub struct ExportInput<'a> {
    pub summary: &'a Summary,
    pub intervals: Option<&'a [IntervalRecord]>,
    /// The run is incomplete (no `summary.json`: re-totalled from its
    /// intervals).
    pub partial: bool,
}

/// One output format.
pub trait Exporter {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()>;
}

/// The formats, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The summary table, as `run` prints it.
    Text,
    /// The summary as `summary.json` holds it.
    Json,
    /// One row per metric (with `--intervals`: per metric per interval).
    Csv,
    /// JUnit XML: one test case per threshold, for CI.
    Junit,
    /// Markdown tables of metrics and thresholds, for a PR comment.
    Markdown,
    /// One self-contained HTML page with SVG charts (no script, nothing
    /// fetched); several runs overlaid.
    Html,
}

impl Format {
    /// The format a file name asks for: `.txt`, `.json`, `.csv`, `.xml`
    /// (JUnit), `.md`, `.html`.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "txt" | "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "xml" => Some(Format::Junit),
            "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }

    /// Extensions [`Format::from_path`] knows, for error messages.
    pub const EXTENSIONS: &'static str = ".json, .txt, .csv, .xml (JUnit), .md, .html";

    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            Format::Text => Box::new(text::Text),
            Format::Json => Box::new(json::Json),
            Format::Csv => Box::new(csv::Csv),
            Format::Junit => Box::new(junit::Junit),
            Format::Markdown => Box::new(markdown::Markdown),
            Format::Html => Box::new(html::Html),
        }
    }
}

/// Writes `input` to `path` (`-`: stdout) in `format`, with
/// [`write_file`](super::write_file).
pub fn write_export(
    path: &Path,
    format: Format,
    input: &ExportInput<'_>,
) -> Result<(), ResultsError> {
    let mut bytes = Vec::new();
    format
        .exporter()
        .write(input, &mut bytes)
        .map_err(|source| ResultsError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    super::write_file(path, &bytes)
}
