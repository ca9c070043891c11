//! The target's own metrics (`run --scrape URL`), as the results keep them:
//! each interval line holds the values sampled during that interval
//! (`target`), and `summary.json` holds one record per series over the run
//! (`target_metrics`). Report and compare read these types only.
//!
//! A series is named by its source (the scraped `host:port`) and its key,
//! the series as Prometheus text writes it with labels sorted:
//! `nodejs_eventloop_lag_seconds{instance="0"}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Sampled values of one interval: source -> series key -> value.
pub type TargetSample = BTreeMap<String, BTreeMap<String, f64>>;

/// `summary.json` `target_metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetMetrics {
    /// One per `--scrape` URL, in the order given.
    pub sources: Vec<ScrapeSource>,
    /// Every kept series, sorted by source then key.
    pub series: Vec<TargetSeries>,
}

/// One scraped endpoint and how scraping it went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScrapeSource {
    /// The URL as given.
    pub url: String,
    /// `host:port`: the source named by series and interval lines.
    pub source: String,
    /// Scrapes attempted, and how many failed.
    pub scrapes: u64,
    pub failures: u64,
    /// The latest failure, e.g. `connection refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What the exposition said a series is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    Counter,
    Gauge,
    /// A summary's quantile, `_sum` or `_count` sample.
    Summary,
    /// A histogram's `_bucket`, `_sum` or `_count` sample.
    Histogram,
    Untyped,
}

/// One series over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetSeries {
    pub source: String,
    /// The sample name, e.g. `process_cpu_seconds_total`.
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub kind: SeriesKind,
    /// Samples seen.
    pub samples: u64,
    pub first: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    /// Per second over the run, for what only grows (counters, and a
    /// summary's or histogram's `_sum` and `_count`); a reset (the target
    /// restarted) counts from zero again, as Prometheus' `rate()` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
}

impl TargetSeries {
    /// The key of this series in interval lines.
    pub fn key(&self) -> String {
        series_key(&self.name, &self.labels)
    }
}

/// `name{a="1",b="2"}` (labels sorted, values escaped as in the text
/// format); just `name` without labels.
pub fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut key = name.to_string();
    if labels.is_empty() {
        return key;
    }
    key.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(key, "{k}=\"{v}\"");
    }
    key.push('}');
    key
}

/// The sample name of a series key (what precedes `{`).
pub fn key_name(key: &str) -> &str {
    key.split_once('{').map_or(key, |(name, _)| name)
}

/// Sample names kept by default, with the kind they have in Rocket.Chat's
/// and node exporter's text (used when a run is read back from its
/// interval lines, which carry values only).
pub const DEFAULTS: &[(&str, SeriesKind)] = &[
    ("process_cpu_seconds_total", SeriesKind::Counter),
    ("process_cpu_user_seconds_total", SeriesKind::Counter),
    ("process_resident_memory_bytes", SeriesKind::Gauge),
    ("nodejs_eventloop_lag_seconds", SeriesKind::Gauge),
    ("nodejs_eventloop_lag_p50_seconds", SeriesKind::Gauge),
    ("nodejs_eventloop_lag_p90_seconds", SeriesKind::Gauge),
    ("nodejs_eventloop_lag_p99_seconds", SeriesKind::Gauge),
    ("nodejs_heap_size_used_bytes", SeriesKind::Gauge),
    ("rocketchat_ddp_sessions_count", SeriesKind::Gauge),
    ("rocketchat_ddp_connected_users", SeriesKind::Gauge),
    ("rocketchat_users_online", SeriesKind::Gauge),
    ("rocketchat_message_sent", SeriesKind::Counter),
    ("rocketchat_ddp_rate_limit_exceeded", SeriesKind::Counter),
    ("rocketchat_instance_count", SeriesKind::Gauge),
    ("node_cpu_seconds_total", SeriesKind::Counter),
    ("node_memory_MemAvailable_bytes", SeriesKind::Gauge),
    ("node_memory_MemTotal_bytes", SeriesKind::Gauge),
    ("node_load1", SeriesKind::Gauge),
];

/// Summaries (histograms in our `serve`) kept by default: their
/// quantiles, `_sum` and `_count`, not their buckets.
pub const TIMINGS: &[&str] = &["rocketchat_rest_api", "rocketchat_meteor_methods"];

/// The kind of a default series, by its sample name.
pub fn default_kind(name: &str) -> Option<SeriesKind> {
    if let Some((_, kind)) = DEFAULTS.iter().find(|(n, _)| *n == name) {
        return Some(*kind);
    }
    TIMINGS
        .iter()
        .any(|t| {
            name.strip_prefix(t)
                .is_some_and(|rest| matches!(rest, "" | "_sum" | "_count"))
        })
        .then_some(SeriesKind::Summary)
}

/// The kind of a series known only by its name (a run read back from its
/// interval lines): the default's, else a counter by the `_total`
/// convention, else untyped.
pub fn guess_kind(name: &str) -> SeriesKind {
    default_kind(name).unwrap_or(if name.ends_with("_total") {
        SeriesKind::Counter
    } else {
        SeriesKind::Untyped
    })
}

/// A series key back into its name and labels ([`series_key`]'s
/// inverse); `None` for text it cannot have written.
pub fn parse_key(key: &str) -> Option<(String, BTreeMap<String, String>)> {
    let Some((name, rest)) = key.split_once('{') else {
        return Some((key.to_string(), BTreeMap::new()));
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.strip_suffix('}')?.chars().peekable();
    while chars.peek().is_some() {
        let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        labels.insert(label, value);
        match chars.next() {
            None | Some(',') => {}
            Some(_) => return None,
        }
    }
    Some((name.to_string(), labels))
}

/// `target_metrics` again from interval lines (a run that died before its
/// summary): kinds by name ([`guess_kind`]), times the ends of the lines,
/// `scrapes` the lines with a sample of the source (failures unknown).
pub fn from_intervals(lines: &[super::IntervalRecord]) -> Option<TargetMetrics> {
    let mut totals = TargetTotals::default();
    let mut sources: BTreeMap<&str, u64> = BTreeMap::new();
    for line in lines {
        let at_s = line.elapsed_s;
        for (source, values) in &line.target {
            *sources.entry(source).or_default() += 1;
            for (key, &value) in values {
                let Some((name, labels)) = parse_key(key) else {
                    continue;
                };
                totals.add(&SeriesSample {
                    source,
                    key,
                    name: &name,
                    labels: &labels,
                    kind: guess_kind(&name),
                    at_s,
                    value,
                });
            }
        }
    }
    if sources.is_empty() {
        return None;
    }
    Some(TargetMetrics {
        sources: sources
            .into_iter()
            .map(|(source, scrapes)| ScrapeSource {
                url: source.to_string(),
                source: source.to_string(),
                scrapes,
                failures: 0,
                last_error: None,
            })
            .collect(),
        series: totals.series(),
    })
}

/// The scraped server's latest figures, for the progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServerFigures {
    /// CPU of the scraped processes (`process_cpu_seconds_total`, summed
    /// over series and sources) between their last two samples, % of one
    /// core.
    pub cpu_pct: Option<f64>,
    /// The highest `nodejs_eventloop_lag_seconds` last sampled, in ms.
    pub lag_ms: Option<f64>,
}

/// The sample name of a process's CPU seconds, as prom-client and our
/// `serve` write it.
pub const CPU_SECONDS: &str = "process_cpu_seconds_total";
/// Rocket.Chat's event-loop lag gauge (prom-client).
pub const EVENTLOOP_LAG: &str = "nodejs_eventloop_lag_seconds";
/// Rocket.Chat's open DDP sessions gauge.
pub const DDP_SESSIONS: &str = "rocketchat_ddp_sessions_count";

/// Builds `target_metrics.series` from samples as they come, one per
/// scrape and series (the same samples the interval lines hold).
#[derive(Clone, Debug, Default)]
pub struct TargetTotals {
    series: BTreeMap<(String, String), Acc>,
}

/// One series so far.
#[derive(Clone, Debug)]
struct Acc {
    out: TargetSeries,
    first_s: f64,
    /// The previous sample (time, value) and the one before it.
    last_s: f64,
    prev: Option<(f64, f64)>,
    /// Sum of increases, counting from zero after a reset.
    increase: f64,
}

/// One sample of one series, as [`TargetTotals::add`] takes it.
pub struct SeriesSample<'a> {
    pub source: &'a str,
    pub key: &'a str,
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub kind: SeriesKind,
    /// When it was sampled, seconds from the start of measuring.
    pub at_s: f64,
    pub value: f64,
}

impl TargetTotals {
    pub fn add(&mut self, s: &SeriesSample<'_>) {
        let v = s.value;
        if !v.is_finite() {
            return;
        }
        let slot = (s.source.to_string(), s.key.to_string());
        let Some(acc) = self.series.get_mut(&slot) else {
            let out = TargetSeries {
                source: s.source.to_string(),
                name: s.name.to_string(),
                labels: s.labels.clone(),
                kind: s.kind,
                samples: 1,
                first: v,
                min: v,
                max: v,
                last: v,
                rate_per_s: None,
            };
            let acc = Acc {
                out,
                first_s: s.at_s,
                last_s: s.at_s,
                prev: None,
                increase: 0.0,
            };
            self.series.insert(slot, acc);
            return;
        };
        let o = &mut acc.out;
        // Prometheus' rate(): a drop is a reset, counted from zero again.
        acc.increase += if v < o.last { v } else { v - o.last };
        acc.prev = Some((acc.last_s, o.last));
        acc.last_s = s.at_s;
        o.samples += 1;
        o.min = o.min.min(v);
        o.max = o.max.max(v);
        o.last = v;
    }

    /// Every series so far, sorted by source then key, with its rate.
    pub fn series(&self) -> Vec<TargetSeries> {
        self.series
            .values()
            .map(|acc| {
                let mut out = acc.out.clone();
                let span = acc.last_s - acc.first_s;
                if out.grows() && out.samples > 1 && span > 0.0 {
                    out.rate_per_s = Some(acc.increase / span);
                }
                out
            })
            .collect()
    }

    /// CPU between the last two samples and the latest event-loop lag.
    pub fn figures(&self) -> ServerFigures {
        let mut f = ServerFigures::default();
        for acc in self.series.values() {
            let o = &acc.out;
            if o.name == CPU_SECONDS
                && let Some((t, v)) = acc.prev
                && acc.last_s > t
                && o.last >= v
            {
                let pct = 100.0 * (o.last - v) / (acc.last_s - t);
                *f.cpu_pct.get_or_insert(0.0) += pct;
            }
            if o.name == EVENTLOOP_LAG {
                let ms = o.last * 1000.0;
                f.lag_ms = Some(f.lag_ms.map_or(ms, |m: f64| m.max(ms)));
            }
        }
        f
    }
}

impl TargetSeries {
    /// Only grows: a counter, or a summary's or histogram's `_sum`/`_count`.
    pub fn grows(&self) -> bool {
        match self.kind {
            SeriesKind::Counter => true,
            SeriesKind::Summary | SeriesKind::Histogram => {
                self.name.ends_with("_sum") || self.name.ends_with("_count")
            }
            SeriesKind::Gauge | SeriesKind::Untyped => false,
        }
    }
}

impl TargetMetrics {
    /// The series of one source named `name`.
    fn named<'a>(
        &'a self,
        source: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a TargetSeries> {
        self.series
            .iter()
            .filter(move |s| s.source == source && s.name == name)
    }

    /// Average CPU of a source's processes over the run, % of one core.
    pub fn cpu_pct(&self, source: &str) -> Option<f64> {
        self.named(source, CPU_SECONDS)
            .filter_map(|s| s.rate_per_s)
            .map(|r| r * 100.0)
            .reduce(|a, b| a + b)
    }

    /// The highest event-loop lag a source showed, in ms.
    pub fn lag_max_ms(&self, source: &str) -> Option<f64> {
        self.named(source, EVENTLOOP_LAG)
            .map(|s| s.max * 1000.0)
            .reduce(f64::max)
    }

    /// The most open DDP sessions a source showed.
    pub fn ddp_sessions_max(&self, source: &str) -> Option<f64> {
        self.named(source, DDP_SESSIONS)
            .map(|s| s.max)
            .reduce(f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_labels_and_escape_values() {
        let labels = BTreeMap::from([
            ("method".to_string(), "send\"Message".to_string()),
            ("instance".to_string(), "0".to_string()),
        ]);
        let key = series_key("rocketchat_meteor_methods_count", &labels);
        assert_eq!(
            key,
            r#"rocketchat_meteor_methods_count{instance="0",method="send\"Message"}"#
        );
        assert_eq!(key_name(&key), "rocketchat_meteor_methods_count");
        assert_eq!(series_key("up", &BTreeMap::new()), "up");
        assert_eq!(key_name("up"), "up");
    }

    fn feed(totals: &mut TargetTotals, name: &str, kind: SeriesKind, points: &[(f64, f64)]) {
        let labels = BTreeMap::new();
        for &(at_s, value) in points {
            totals.add(&SeriesSample {
                source: "rc:9458",
                key: name,
                name,
                labels: &labels,
                kind,
                at_s,
                value,
            });
        }
    }

    #[test]
    fn keys_parse_back() {
        let labels = BTreeMap::from([
            ("ua".to_string(), "a \"b\", c=d\\e\nf".to_string()),
            ("m".to_string(), String::new()),
        ]);
        let key = series_key("x_count", &labels);
        assert_eq!(parse_key(&key), Some(("x_count".to_string(), labels)));
        assert_eq!(parse_key("up"), Some(("up".to_string(), BTreeMap::new())));
        assert_eq!(parse_key("x{a=1}"), None);
        assert_eq!(
            guess_kind("rocketchat_ddp_sessions_count"),
            SeriesKind::Gauge
        );
        assert_eq!(guess_kind("rocketchat_rest_api_count"), SeriesKind::Summary);
        assert_eq!(guess_kind("http_requests_total"), SeriesKind::Counter);
    }

    #[test]
    fn rates_count_a_reset_from_zero_and_gauges_have_none() {
        let mut t = TargetTotals::default();
        // 10 -> 14 (+4), restart: 2 (+2), -> 5 (+3): 9 over 3 s.
        let cpu = [(0.0, 10.0), (1.0, 14.0), (2.0, 2.0), (3.0, 5.0)];
        feed(&mut t, CPU_SECONDS, SeriesKind::Counter, &cpu);
        feed(
            &mut t,
            EVENTLOOP_LAG,
            SeriesKind::Gauge,
            &[(0.0, 0.004), (3.0, 0.002)],
        );
        feed(
            &mut t,
            "rocketchat_rest_api_count",
            SeriesKind::Summary,
            &[(0.0, 1.0), (2.0, 5.0)],
        );
        feed(
            &mut t,
            "rocketchat_rest_api",
            SeriesKind::Summary,
            &[(0.0, 1.0), (2.0, 5.0)],
        );
        let series = t.series();
        let get = |n: &str| series.iter().find(|s| s.name == n).unwrap();
        let c = get(CPU_SECONDS);
        assert_eq!(
            (c.samples, c.first, c.min, c.max, c.last),
            (4, 10.0, 2.0, 14.0, 5.0)
        );
        assert_eq!(c.rate_per_s, Some(3.0));
        assert_eq!(get(EVENTLOOP_LAG).rate_per_s, None);
        assert_eq!(get("rocketchat_rest_api_count").rate_per_s, Some(2.0));
        assert_eq!(get("rocketchat_rest_api").rate_per_s, None, "a quantile");
        let f = t.figures();
        assert_eq!(f.cpu_pct, Some(300.0));
        assert_eq!(f.lag_ms, Some(2.0));
        let m = TargetMetrics {
            sources: vec![],
            series,
        };
        assert_eq!(m.cpu_pct("rc:9458"), Some(300.0));
        assert_eq!(m.lag_max_ms("rc:9458"), Some(4.0));
        assert_eq!(m.ddp_sessions_max("rc:9458"), None);
    }
}
