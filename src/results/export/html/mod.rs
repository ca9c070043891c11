//! The HTML report: one self-contained file (inline CSS, inline SVG
//! charts drawn by plotters; no script, and nothing fetched, so it opens
//! offline and attaches to a ticket as it is). One run or several
//! overlaid; callers add sections of their own (the comparison table,
//! capacity and scaling charts) as HTML fragments.

pub mod charts;
mod page;
mod runs;

use std::io::{self, Write};

pub use page::{esc, figure};

use super::{ExportInput, Exporter};

/// `run --export report.html`: the page of one run.
pub struct Html;

impl Exporter for Html {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
        let label = input.summary.run.info.id.clone();
        let page = Page {
            runs: vec![PageRun {
                label,
                input: ExportInput {
                    summary: input.summary,
                    intervals: input.intervals,
                    partial: input.partial,
                },
            }],
            sections: Vec::new(),
            notes: Vec::new(),
            compact: false,
        };
        w.write_all(page.render().as_bytes())
    }
}

/// What a report page shows.
pub struct Page<'a> {
    /// The runs, in the order given (the first is the comparison's base).
    pub runs: Vec<PageRun<'a>>,
    /// Sections after the run charts, already HTML.
    pub sections: Vec<Section>,
    /// Page-level remarks (why the comparison is missing, ...).
    pub notes: Vec<String>,
    /// Leave out each run's metric table and passed thresholds: a
    /// comparison section has the figures side by side.
    pub compact: bool,
}

/// One run and the name the page gives it.
pub struct PageRun<'a> {
    pub label: String,
    pub input: ExportInput<'a>,
}

/// A titled part of the page; `body` is HTML, its text escaped by its
/// maker.
pub struct Section {
    pub title: String,
    pub body: String,
}

impl Page<'_> {
    pub fn render(&self) -> String {
        page::render(self)
    }
}

#[cfg(test)]
mod tests;
