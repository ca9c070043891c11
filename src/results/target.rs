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
}
