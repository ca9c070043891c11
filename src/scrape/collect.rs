//! The scrapers' side of the collector thread: once per interval it takes
//! each source's sample if a new one completed (so a value is never
//! counted twice, and a failed scrape leaves a gap, not a stale copy),
//! for the interval line and the run's totals; at the end, the summary's
//! `target_metrics` and the notes of what went wrong.

use super::{MAX_SERIES, ScrapeView};
use crate::results::{
    Note, NoteKind, ScrapeSource, SeriesSample, ServerFigures, TargetMetrics, TargetSample,
    TargetTotals,
};

pub struct TargetCollector {
    view: ScrapeView,
    /// Per source, the last sample taken.
    seen: Vec<u64>,
    totals: TargetTotals,
}

impl TargetCollector {
    pub fn new(view: ScrapeView) -> TargetCollector {
        TargetCollector {
            view,
            seen: Vec::new(),
            totals: TargetTotals::default(),
        }
    }

    /// The samples completed since the last call (an interval line's
    /// `target`), now in the totals too.
    pub fn take(&mut self) -> TargetSample {
        let seen = &mut self.seen;
        let fresh = self.view.with(|all| {
            seen.resize(all.len(), 0);
            all.iter()
                .zip(seen.iter_mut())
                .filter_map(|(s, seen)| {
                    let latest = s.latest.as_ref().filter(|l| l.seq > *seen)?;
                    *seen = latest.seq;
                    Some((s.url.source(), latest.clone()))
                })
                .collect::<Vec<_>>()
        });
        let mut out = TargetSample::new();
        for (source, sample) in fresh {
            let values = out.entry(source.clone()).or_default();
            for (key, s) in &sample.series {
                self.totals.add(&SeriesSample {
                    source: &source,
                    key,
                    name: &s.name,
                    labels: &s.labels,
                    kind: s.kind,
                    at_s: sample.at_s,
                    value: s.value,
                });
                values.insert(key.clone(), s.value);
            }
        }
        out
    }

    /// The server's latest CPU and event-loop lag.
    pub fn figures(&self) -> ServerFigures {
        self.totals.figures()
    }

    /// `target_metrics`, and a note per source that failed or was cut.
    pub fn finish(self) -> (TargetMetrics, Vec<Note>) {
        let mut notes = Vec::new();
        let sources = self.view.with(|all| {
            all.iter()
                .map(|s| {
                    let source = s.url.source();
                    if s.failures > 0 {
                        notes.push(failed_note(s.url.as_str(), s));
                    }
                    if let Some(found) = s.cut_from {
                        notes.push(Note::new(
                            NoteKind::ScrapeSeriesCut {
                                source: source.clone(),
                                found: found as u64,
                                kept: MAX_SERIES as u64,
                            },
                            format!(
                                "{source} exposed {found} selected series: kept the first {MAX_SERIES} by name (narrow --scrape-match)"
                            ),
                        ));
                    }
                    ScrapeSource {
                        url: s.url.as_str().to_string(),
                        source,
                        scrapes: s.scrapes,
                        failures: s.failures,
                        last_error: s.last_error.clone(),
                    }
                })
                .collect()
        });
        let metrics = TargetMetrics {
            sources,
            series: self.totals.series(),
        };
        (metrics, notes)
    }
}

fn failed_note(url: &str, s: &super::SourceState) -> Note {
    let first = s.first_error.as_deref().unwrap_or("unknown");
    let last = match &s.last_error {
        Some(l) if l != first => format!("; last: {l}"),
        _ => String::new(),
    };
    Note::new(
        NoteKind::ScrapeFailed {
            url: url.to_string(),
            scrapes: s.scrapes,
            failures: s.failures,
        },
        format!(
            "--scrape {url}: {} of {} scrapes failed (first: {first}{last}); the load and its measurements are not affected",
            s.failures, s.scrapes
        ),
    )
}
