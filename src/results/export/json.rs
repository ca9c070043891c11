//! The summary as JSON (schema 2, the shape of `summary.json`).

use std::io::{self, Write};

use super::{ExportInput, Exporter};

pub struct Json;

impl Exporter for Json {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, input.summary)?;
        writeln!(w)
    }
}
