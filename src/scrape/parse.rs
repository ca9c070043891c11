//! The text a `/metrics` endpoint returns, as flat samples: one per series
//! (a summary's quantiles, `_sum` and `_count` each their own, as the text
//! writes them), with the kind its family declares.
//!
//! The parser is `openmetrics-parser`, chosen over `prometheus-parse`
//! after running both on Rocket.Chat's text (tests/fixtures/
//! rocketchat-metrics.txt), our `serve`'s OpenMetrics text and node
//! exporter's: prometheus-parse splits labels on `,` and `=` (a
//! `user_agent="Mozilla/5.0 (KHTML, like Gecko)"` becomes two wrong
//! labels), types neither an OpenMetrics counter (`# TYPE x counter` with
//! sample `x_total`) nor a summary's `_sum`/`_count`, and returns an empty
//! scrape for an HTML error page instead of an error. openmetrics-parser
//! gets all of these right and refuses malformed text; it is strict (the
//! Prometheus grammar refuses `unknown`, the OpenMetrics one blank lines),
//! so the format is picked from the text (`# EOF` ends OpenMetrics), and
//! it is about 4x slower (~170 ms per MB), which is why parsing runs off
//! the async workers. No panic in 9,000 mutated inputs of the three texts.

use std::collections::BTreeMap;

use openmetrics_parser::{
    HistogramValue, MetricFamily, MetricNumber, OpenMetricsValue, PrometheusValue,
    Sample as ParsedSample, SummaryValue,
};

use crate::results::SeriesKind;

/// One sample of a scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// As written: `rocketchat_rest_api_count`, `process_cpu_seconds_total`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub kind: SeriesKind,
    pub value: f64,
}

/// The text was not Prometheus or OpenMetrics exposition.
#[derive(Debug, thiserror::Error)]
#[error("not Prometheus text: {0}")]
pub struct ParseError(String);

/// The samples of `text` whose name `keep` accepts, in no set order.
/// Non-finite values (prom-client's NaN quantiles of an empty summary)
/// are left out: they have no JSON form and no meaning over a run.
pub fn parse(text: &str, keep: &dyn Fn(&str) -> bool) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    if is_openmetrics(text) {
        let exposition = openmetrics_parser::openmetrics::parse_openmetrics(text)
            .map_err(|e| ParseError(first_line(&e.to_string())))?;
        for family in exposition.families.values() {
            flatten(family, keep, &mut out);
        }
    } else {
        let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
            .map_err(|e| ParseError(first_line(&e.to_string())))?;
        for family in exposition.families.values() {
            flatten(family, keep, &mut out);
        }
    }
    out.retain(|s| s.value.is_finite());
    Ok(out)
}

/// OpenMetrics text ends with `# EOF`; Prometheus 0.0.4 text has none.
fn is_openmetrics(text: &str) -> bool {
    text.trim_end().ends_with("# EOF")
}

/// pest's errors are several lines with a caret drawing; the first names
/// the place.
fn first_line(message: &str) -> String {
    let mut parts = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = parts.next().unwrap_or("malformed text").to_string();
    match parts.find(|l| l.starts_with('=')) {
        Some(expected) => format!("{head} {}", expected.trim_start_matches("= ")),
        None => head,
    }
}

fn labels_of<V>(sample: &ParsedSample<V>) -> BTreeMap<String, String>
where
    V: openmetrics_parser::RenderableMetricValue + Clone,
{
    sample
        .get_labelset()
        .map(|set| {
            set.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default()
}

/// Pushes the samples of one family, each named as the text writes it.
struct Flatten<'a> {
    family: &'a str,
    keep: &'a dyn Fn(&str) -> bool,
    out: &'a mut Vec<Sample>,
}

impl Flatten<'_> {
    fn push(
        &mut self,
        suffix: &str,
        labels: &BTreeMap<String, String>,
        extra: Option<(&str, String)>,
        kind: SeriesKind,
        value: f64,
    ) {
        let name = format!("{}{suffix}", self.family);
        if !(self.keep)(&name) {
            return;
        }
        let mut labels = labels.clone();
        if let Some((k, v)) = extra {
            labels.insert(k.to_string(), v);
        }
        self.out.push(Sample {
            name,
            labels,
            kind,
            value,
        });
    }

    /// A summary's quantiles, `_sum` and `_count`.
    fn summary(&mut self, labels: &BTreeMap<String, String>, s: &SummaryValue) {
        for q in &s.quantiles {
            let extra = Some(("quantile", format_le(q.quantile)));
            self.push("", labels, extra, SeriesKind::Summary, q.value.as_f64());
        }
        self.sum_count(labels, s.sum, s.count, SeriesKind::Summary);
    }

    /// A histogram's `_bucket`s, `_sum` and `_count`.
    fn histogram(&mut self, labels: &BTreeMap<String, String>, h: &HistogramValue) {
        for b in &h.buckets {
            let extra = Some(("le", format_le(b.upper_bound)));
            let count = b.count.as_f64();
            self.push("_bucket", labels, extra, SeriesKind::Histogram, count);
        }
        self.sum_count(labels, h.sum, h.count, SeriesKind::Histogram);
    }

    fn sum_count(
        &mut self,
        labels: &BTreeMap<String, String>,
        sum: Option<MetricNumber>,
        count: Option<u64>,
        kind: SeriesKind,
    ) {
        if let Some(sum) = sum {
            self.push("_sum", labels, None, kind, sum.as_f64());
        }
        if let Some(count) = count {
            self.push("_count", labels, None, kind, count as f64);
        }
    }
}

/// `0.5`, `1`, `+Inf`: a bound or quantile as the text format writes it.
fn format_le(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else {
        v.to_string()
    }
}

/// A sample's value in the terms both grammars share.
enum Value<'a> {
    /// A value with the suffix its sample name adds to the family's.
    Plain(&'static str, SeriesKind, f64),
    Summary(&'a SummaryValue),
    Histogram(&'a HistogramValue),
}

/// The values of one of the parser's two value types.
trait Flat {
    fn flat(&self) -> Value<'_>;
}

impl Flat for PrometheusValue {
    fn flat(&self) -> Value<'_> {
        match self {
            PrometheusValue::Counter(c) => Value::Plain("", SeriesKind::Counter, c.value.as_f64()),
            PrometheusValue::Gauge(n) => Value::Plain("", SeriesKind::Gauge, n.as_f64()),
            PrometheusValue::Unknown(n) => Value::Plain("", SeriesKind::Untyped, n.as_f64()),
            PrometheusValue::Summary(s) => Value::Summary(s),
            PrometheusValue::Histogram(h) => Value::Histogram(h),
        }
    }
}

impl Flat for OpenMetricsValue {
    fn flat(&self) -> Value<'_> {
        match self {
            // An OpenMetrics counter family `x` writes its sample `x_total`.
            OpenMetricsValue::Counter(c) => {
                Value::Plain("_total", SeriesKind::Counter, c.value.as_f64())
            }
            OpenMetricsValue::Gauge(n) => Value::Plain("", SeriesKind::Gauge, n.as_f64()),
            OpenMetricsValue::Unknown(n) | OpenMetricsValue::StateSet(n) => {
                Value::Plain("", SeriesKind::Untyped, n.as_f64())
            }
            OpenMetricsValue::Summary(s) => Value::Summary(s),
            OpenMetricsValue::Histogram(h) | OpenMetricsValue::GaugeHistogram(h) => {
                Value::Histogram(h)
            }
            OpenMetricsValue::Info => Value::Plain("_info", SeriesKind::Gauge, 1.0),
        }
    }
}

fn flatten<T, V>(family: &MetricFamily<T, V>, keep: &dyn Fn(&str) -> bool, out: &mut Vec<Sample>)
where
    T: Clone,
    V: Flat + openmetrics_parser::RenderableMetricValue + Clone,
{
    let mut f = Flatten {
        family: &family.family_name,
        keep,
        out,
    };
    for sample in family.iter_samples() {
        let labels = labels_of(sample);
        match sample.value.flat() {
            Value::Plain(suffix, kind, v) => f.push(suffix, &labels, None, kind, v),
            Value::Summary(s) => f.summary(&labels, s),
            Value::Histogram(h) => f.histogram(&labels, h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RC: &str = include_str!("../../tests/fixtures/rocketchat-metrics.txt");

    fn find<'a>(samples: &'a [Sample], name: &str, label: (&str, &str)) -> Option<&'a Sample> {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
    }

    #[test]
    fn rocketchat_text_parses_with_kinds_and_labels() {
        let all = parse(RC, &|_| true).unwrap();
        let cpu = all
            .iter()
            .find(|s| s.name == "process_cpu_seconds_total")
            .unwrap();
        assert_eq!((cpu.kind, cpu.value), (SeriesKind::Counter, 2154.716));
        let q = find(&all, "rocketchat_rest_api", ("quantile", "0.99")).unwrap();
        assert_eq!(q.kind, SeriesKind::Summary);
        assert_eq!(q.labels["entrypoint"], "/api/v1/chat.postMessage");
        let count = find(
            &all,
            "rocketchat_rest_api_count",
            ("entrypoint", "/api/v1/channels.history"),
        )
        .unwrap();
        assert_eq!((count.kind, count.value), (SeriesKind::Summary, 2205.0));
        // An escaped quote in a label value comes back as the quote.
        assert_eq!(count.labels["user_agent"], "Mozilla/5.0 \"quoted\" build");
        let sessions = all
            .iter()
            .find(|s| s.name == "rocketchat_ddp_sessions_count")
            .unwrap();
        assert_eq!(sessions.kind, SeriesKind::Gauge);
        let gc = find(&all, "nodejs_gc_duration_seconds_bucket", ("le", "+Inf")).unwrap();
        assert_eq!(gc.kind, SeriesKind::Histogram);
    }

    #[test]
    fn openmetrics_counters_get_their_total_and_unknown_is_untyped() {
        let text = "# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 1.5\n\
                    # TYPE rocketchat_message_sent unknown\nrocketchat_message_sent 7\n\
                    # TYPE rocketchat_rest_api histogram\n\
                    rocketchat_rest_api_sum{method=\"POST\"} 0.25\n\
                    rocketchat_rest_api_count{method=\"POST\"} 3\n\
                    rocketchat_rest_api_bucket{le=\"+Inf\",method=\"POST\"} 3\n# EOF\n";
        let all = parse(text, &|n| !n.ends_with("_bucket")).unwrap();
        let by_name = |n: &str| all.iter().find(|s| s.name == n).unwrap();
        assert_eq!(
            by_name("process_cpu_seconds_total").kind,
            SeriesKind::Counter
        );
        assert_eq!(by_name("rocketchat_message_sent").kind, SeriesKind::Untyped);
        let count = by_name("rocketchat_rest_api_count");
        assert_eq!((count.kind, count.value), (SeriesKind::Histogram, 3.0));
        assert_eq!(all.len(), 4, "{all:?}");
    }

    #[test]
    fn labels_with_commas_and_nan_quantiles() {
        let text = "# TYPE m summary\n\
                    m{quantile=\"0.5\",ua=\"Mozilla/5.0 (KHTML, like Gecko)\"} NaN\n\
                    m_sum{ua=\"Mozilla/5.0 (KHTML, like Gecko)\"} 0\n\
                    m_count{ua=\"Mozilla/5.0 (KHTML, like Gecko)\"} 0\n";
        let all = parse(text, &|_| true).unwrap();
        assert_eq!(all.len(), 2, "NaN left out: {all:?}");
        assert!(
            all.iter()
                .all(|s| s.labels["ua"] == "Mozilla/5.0 (KHTML, like Gecko)")
        );
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_scrape() {
        for text in [
            "<html><body>Not Found</body></html>\n",
            "# TYPE a counter\na{x=\"1\n",
            "\u{fffd}\u{0}A{\"\n",
        ] {
            let e = parse(text, &|_| true).unwrap_err();
            assert!(e.to_string().starts_with("not Prometheus text"), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
