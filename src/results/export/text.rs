//! The summary table `run` prints.

use std::io::{self, Write};

use super::{ExportInput, Exporter};
use crate::results::table::print_summary;

pub struct Text;

impl Exporter for Text {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
        if input.partial {
            writeln!(
                w,
                "partial run: no summary.json, totals re-computed from intervals.jsonl"
            )?;
        }
        print_summary(input.summary, w)
    }
}
