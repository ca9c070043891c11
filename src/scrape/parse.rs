//! The text a `/metrics` endpoint returns, as flat samples: one per series
//! (a summary's quantiles, `_sum` and `_count` each their own, as the text
//! writes them), with the kind its family declares.
//!
//! Written by hand, for want of a crate that fits: `openmetrics-parser`
//! parses correctly but is LGPL-3.0, which a statically linked binary
//! shipped in an image cannot honour simply; `prometheus-parse` splits
//! labels on `,` (a `user_agent="Mozilla/5.0 (KHTML, like Gecko)"` becomes
//! two wrong labels), types neither an OpenMetrics counter nor a summary's
//! `_sum`/`_count`, and reads an HTML error page as an empty scrape. Both
//! formats (Prometheus text 0.0.4 and OpenMetrics 1.0) are one sample per
//! line, so one pass reads either: `# TYPE` names a family's kind, a
//! sample's family is its name or its name less a suffix the kind allows,
//! and a series the selector does not keep is checked for shape but its
//! labels are never copied.

use std::collections::{BTreeMap, HashMap};

use crate::results::SeriesKind;

/// A line longer than this is not exposition text (a minified page, a
/// binary body); no real label set comes near it.
const MAX_LINE: usize = 64 * 1024;

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
#[error("not Prometheus text: line {line}: {what}")]
pub struct ParseError {
    line: usize,
    what: String,
}

/// The samples of `text` whose name `keep` accepts, in the text's order.
/// Non-finite values (prom-client's NaN quantiles of an empty summary)
/// are left out: they have no JSON form and no meaning over a run.
/// OpenMetrics' `_created` samples are left out too: a creation time is
/// not a measurement.
pub fn parse(text: &str, keep: &dyn Fn(&str) -> bool) -> Result<Vec<Sample>, ParseError> {
    let mut families: HashMap<&str, Family> = HashMap::new();
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fail = |what: String| ParseError {
            line: index + 1,
            what,
        };
        if line.len() > MAX_LINE {
            return Err(fail(format!("longer than {} KiB", MAX_LINE / 1024)));
        }
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment == "EOF" {
                break;
            }
            if let Some(decl) = comment.strip_prefix("TYPE ") {
                let (name, family) = type_line(decl).map_err(fail)?;
                families.insert(name, family);
            }
            continue;
        }
        let line = Line::read(line).map_err(fail)?;
        let Some(kind) = kind_of(&families, line.name) else {
            continue;
        };
        if !keep(line.name) || !line.value.is_finite() {
            continue;
        }
        out.push(Sample {
            name: line.name.to_string(),
            labels: labels(line.labels).map_err(fail)?,
            kind,
            value: line.value,
        });
    }
    Ok(out)
}

/// A family's kind as `# TYPE` declares it.
#[derive(Clone, Copy, PartialEq)]
enum Family {
    Counter,
    Gauge,
    Summary,
    Histogram,
    /// OpenMetrics' gauge histogram: `_bucket`, `_gsum`, `_gcount`.
    GaugeHistogram,
    /// OpenMetrics' info: one `_info` sample of value 1.
    Info,
    Untyped,
}

impl Family {
    /// The sample names' suffixes this kind allows, and the kind of each
    /// sample; `None` for one to leave out.
    fn suffixes(self) -> &'static [(&'static str, Option<SeriesKind>)] {
        use SeriesKind as K;
        match self {
            Family::Counter => &[
                ("", Some(K::Counter)),
                ("_total", Some(K::Counter)),
                ("_created", None),
            ],
            Family::Gauge => &[("", Some(K::Gauge))],
            Family::Summary => &[
                ("", Some(K::Summary)),
                ("_sum", Some(K::Summary)),
                ("_count", Some(K::Summary)),
                ("_created", None),
            ],
            Family::Histogram => &[
                ("_bucket", Some(K::Histogram)),
                ("_sum", Some(K::Histogram)),
                ("_count", Some(K::Histogram)),
                ("_created", None),
            ],
            Family::GaugeHistogram => &[
                ("_bucket", Some(K::Histogram)),
                ("_gsum", Some(K::Histogram)),
                ("_gcount", Some(K::Histogram)),
            ],
            Family::Info => &[("_info", Some(K::Gauge))],
            Family::Untyped => &[("", Some(K::Untyped))],
        }
    }
}

/// `name kind` of a `# TYPE` line.
fn type_line(decl: &str) -> Result<(&str, Family), String> {
    let mut words = decl.split_whitespace();
    let (Some(name), Some(kind), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("`# TYPE {decl}` needs a metric name and a kind"));
    };
    if metric_name(name) != name.len() {
        return Err(format!("`{name}` in `# TYPE` is not a metric name"));
    }
    let family = match kind {
        "counter" => Family::Counter,
        "gauge" => Family::Gauge,
        "summary" => Family::Summary,
        "histogram" => Family::Histogram,
        "gaugehistogram" => Family::GaugeHistogram,
        "info" => Family::Info,
        "untyped" | "unknown" | "stateset" => Family::Untyped,
        other => return Err(format!("`{other}` is not a metric kind")),
    };
    Ok((name, family))
}

/// The kind of a sample named `name`: its own family's, or that of the
/// family it is a suffixed sample of; untyped when no `# TYPE` names
/// either; `None` for a sample to leave out.
fn kind_of(families: &HashMap<&str, Family>, name: &str) -> Option<SeriesKind> {
    let declared = |family: &str, suffix: &str| {
        families
            .get(family)?
            .suffixes()
            .iter()
            .find(|(s, _)| *s == suffix)
            .map(|(_, kind)| *kind)
    };
    if let Some(kind) = declared(name, "") {
        return kind;
    }
    name.match_indices('_')
        .find_map(|(at, _)| declared(&name[..at], &name[at..]))
        .unwrap_or(Some(SeriesKind::Untyped))
}

/// One sample line, its labels still as written.
struct Line<'a> {
    name: &'a str,
    /// Between the braces, escapes and all; empty without braces.
    labels: &'a str,
    value: f64,
}

impl<'a> Line<'a> {
    /// `name{labels} value [timestamp] [# exemplar]`.
    fn read(line: &'a str) -> Result<Line<'a>, String> {
        let end = metric_name(line);
        if end == 0 {
            let found: String = line.chars().take(12).collect();
            return Err(format!("a sample starts with a metric name, not `{found}`"));
        }
        let (name, mut rest) = line.split_at(end);
        let mut labels = "";
        if let Some(inner) = rest.strip_prefix('{') {
            let close = label_end(inner)?;
            labels = &inner[..close];
            rest = &inner[close + 1..];
        }
        // An exemplar (` # {trace_id="..."} 1.0`) says nothing of the series.
        let rest = rest.split(" # ").next().unwrap_or_default();
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .ok_or_else(|| format!("`{name}` has no value"))?;
        let value = number(value).ok_or_else(|| format!("`{value}` is not a number"))?;
        if let Some(ts) = fields.next() {
            number(ts).ok_or_else(|| format!("`{ts}` is not a timestamp"))?;
        }
        if let Some(extra) = fields.next() {
            return Err(format!("`{extra}` after the value and timestamp"));
        }
        Ok(Line {
            name,
            labels,
            value,
        })
    }
}

/// The length of the metric name `s` starts with: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn metric_name(s: &str) -> usize {
    let b = s.as_bytes();
    if !b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b':')
    {
        return 0;
    }
    b.iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b':'))
        .unwrap_or(b.len())
}

/// Where the label set ends (the closing brace), skipping quoted values.
fn label_end(inner: &str) -> Result<usize, String> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inner.bytes().enumerate() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            (false, _, b'}') => return Ok(i),
            _ => {}
        }
    }
    Err(if quoted {
        "a label value has no closing quote".into()
    } else {
        "the label set has no closing brace".into()
    })
}

/// A Go-style float: `1`, `-2.5e3`, `NaN`, `+Inf`.
fn number(s: &str) -> Option<f64> {
    // Rust also reads `infinity` and `inf`; the formats write `+Inf`/`-Inf`
    // and Rust reads those too, case aside.
    s.parse().ok()
}

/// `a="1",b="x \"y\""` as a map, escapes (`\\`, `\"`, `\n`) undone.
fn labels(mut s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        let end = s
            .bytes()
            .position(|c| !(c.is_ascii_alphanumeric() || c == b'_'))
            .unwrap_or(s.len());
        let (name, rest) = s.split_at(end);
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            return Err(format!(
                "`{}` is not a label name",
                rest.chars().take(12).collect::<String>()
            ));
        }
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix('=').map(str::trim_start) else {
            return Err(format!("label `{name}` has no `=`"));
        };
        let Some(rest) = rest.strip_prefix('"') else {
            return Err(format!("label `{name}`'s value is not quoted"));
        };
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let after = loop {
            match chars.next() {
                Some((i, '"')) => break &rest[i + 1..],
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => return Err(format!("label `{name}` has the escape `\\{c}`")),
                    None => return Err(format!("label `{name}` ends in a lone `\\`")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label `{name}`'s value has no closing quote")),
            }
        };
        out.insert(name.to_string(), value);
        let after = after.trim_start();
        s = match after.strip_prefix(',') {
            Some(next) => next,
            None if after.is_empty() => after,
            None => return Err(format!("`,` or `}}` after label `{name}`")),
        };
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
    fn timestamps_exemplars_escapes_and_created_samples() {
        let text = "# TYPE http_requests counter\n\
                    http_requests_total{path=\"/a\\nb\",q=\"c\\\\d\",} 12 1764590412000\n\
                    http_requests_created{path=\"/a\"} 1764590000\n\
                    # TYPE lat histogram\n\
                    lat_bucket{le=\"0.1\"} 4 # {trace_id=\"x\"} 0.05 1.7e9\n\
                    no_type_here 3.5\n\
                    # EOF\n";
        let all = parse(text, &|_| true).unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[0].labels["path"], "/a\nb");
        assert_eq!(all[0].labels["q"], "c\\d");
        assert_eq!((all[0].kind, all[0].value), (SeriesKind::Counter, 12.0));
        assert_eq!((all[1].kind, all[1].value), (SeriesKind::Histogram, 4.0));
        assert_eq!((all[2].kind, all[2].value), (SeriesKind::Untyped, 3.5));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        for (text, line, what) in [
            ("a 1\nb{x=\"1\" 2\n", 2, "no closing brace"),
            ("# TYPE a meter\n", 1, "`meter` is not a metric kind"),
            ("a 1\n\nc\n", 3, "`c` has no value"),
            ("a one\n", 1, "`one` is not a number"),
            ("a{x=1} 1\n", 1, "not quoted"),
            ("a{x=\"\\q\"} 1\n", 1, "escape `\\q`"),
            ("a 1 2 3\n", 1, "`3` after the value"),
        ] {
            let e = parse(text, &|_| true).unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}: ")), "{text:?}: {e}");
            assert!(e.contains(what), "{text:?}: {e}");
        }
        let long = format!("a{{x=\"{}\"}} 1\n", "y".repeat(70_000));
        let e = parse(&long, &|_| true).unwrap_err().to_string();
        assert!(e.contains("longer than 64 KiB"), "{e}");
    }

    #[test]
    fn unkept_series_are_checked_for_shape_only() {
        let text = "keep_me{a=\"1\"} 1\nskip_me{b=\"\\q\"} 2\n";
        let kept = parse(text, &|n| n == "keep_me").unwrap();
        assert_eq!(kept.len(), 1);
        assert!(parse("keep_me 1\nskip_me{b=\"2} 2\n", &|n| n == "keep_me").is_err());
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
