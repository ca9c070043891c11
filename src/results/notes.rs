//! Run notes: what a reader of the results must know to trust them (the
//! generator saturated, arrivals were dropped, the run was cut short, the
//! first error of a class). Each is data (a kind and its numbers) with the
//! sentence a person reads, so tools decide on the kind and people read
//! the text.

use serde::{Deserialize, Serialize};

/// One note: its kind with its numbers, and the sentence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    #[serde(flatten)]
    pub kind: NoteKind,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoteKind {
    /// The load generator was the bottleneck: latencies include its own
    /// delay. `lag_p99_ms` is the scheduler lag; the CPU figures count
    /// one-second samples over the limit.
    GeneratorSaturated {
        lag_p99_ms: f64,
        cpu_over_limit_s: u64,
        cpu_samples_s: u64,
        cpu_max_pct: f64,
    },
    /// Open model: arrivals that found no free VU within `max_queue`.
    DroppedArrivals { count: u64 },
    /// Iterations in progress at the end or a ramp-down (not timed).
    CutShortIterations { count: u64 },
    /// Ctrl-C: the results cover the time until then.
    Interrupted,
    /// The engine stopped before the plan ended.
    StoppedEarly,
    /// The first error of a class, with its cause.
    FirstError { metric: String, class: String },
    /// A scenario problem met while running (a template that failed, a
    /// room that does not exist).
    Scenario,
    /// A configuration warning at start.
    Config,
    /// Some interval lines could not be written (the totals are whole).
    IntervalsNotWritten,
    /// The run did not finish (no `summary.json`): totals re-computed from
    /// the interval lines, thresholds not evaluated; or a merge of which
    /// such a run is a part.
    Partial,
    /// `rocketload merge`: the runs this one is made of.
    Merged { parts: u64 },
    /// A merge warning (shards' start times or clocks disagree).
    MergeWarning,
    /// `run --scrape URL`: scrapes of this URL failed (the run is whole).
    ScrapeFailed {
        url: String,
        scrapes: u64,
        failures: u64,
    },
    /// `run --scrape`: a source exposed more selected series than are
    /// kept; the first `kept` by key were.
    ScrapeSeriesCut {
        source: String,
        found: u64,
        kept: u64,
    },
    /// A sharded run received `count` deliveries of messages other shards
    /// sent: their `message.e2e` samples are timed from the sender host's
    /// clock, so they are only as good as the clock sync between the
    /// generator hosts.
    CrossShardE2e { count: u64 },
    /// A schema-1 note, kept as its text.
    Other,
}

impl Note {
    pub fn new(kind: NoteKind, text: impl Into<String>) -> Note {
        Note {
            kind,
            text: text.into(),
        }
    }

    /// The mark of a run whose latencies cannot be trusted as the target's.
    pub fn is_saturation(&self) -> bool {
        matches!(self.kind, NoteKind::GeneratorSaturated { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_with_their_kind_and_numbers() {
        let notes = vec![
            Note::new(NoteKind::DroppedArrivals { count: 3 }, "3 dropped"),
            Note::new(NoteKind::Interrupted, "interrupted"),
            Note::new(
                NoteKind::FirstError {
                    metric: "rest.login".into(),
                    class: "http_503".into(),
                },
                "first",
            ),
        ];
        let json = serde_json::to_string(&notes).unwrap();
        assert!(
            json.contains(r#"{"kind":"dropped_arrivals","count":3,"text":"3 dropped"}"#),
            "{json}"
        );
        let back: Vec<Note> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, notes);
    }
}
