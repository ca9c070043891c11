//! The exposition text parsed back: buckets cumulative and equal to the
//! HDR counts, counters and gauges as recorded, the endpoint and linger.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::exposition::Exposition;
use crate::metrics::histogram::new_histogram;
use crate::metrics::{ErrorClass, Metrics, Sample, names};
use crate::results::Totals;

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses OpenMetrics text sample lines; panics on what it cannot read
/// (the input is our own output).
fn parse(text: &str) -> Vec<Line> {
    assert!(text.ends_with("# EOF\n"), "no # EOF: {text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}').expect("}"))),
                None => (series, BTreeMap::new()),
            };
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value of {l}")),
            };
            Line {
                name: name.into(),
                labels,
                value,
            }
        })
        .collect()
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().expect("escaped char")),
                '"' => break,
                c => value.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        out.insert(key, value);
    }
    out
}

fn find<'a>(lines: &'a [Line], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Line> {
    lines
        .iter()
        .filter(|l| l.name == name)
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.labels.get(*k).map(String::as_str) == Some(v))
        })
        .collect()
}

fn value(lines: &[Line], name: &str, labels: &[(&str, &str)]) -> f64 {
    match find(lines, name, labels).as_slice() {
        [one] => one.value,
        other => panic!("{name} {labels:?}: {} lines", other.len()),
    }
}

/// Feeds `intervals` to a live sink as the collector does.
fn feed(live: &LiveMetrics, intervals: &[crate::metrics::Interval], level: f64) {
    let mut sink = live.sink();
    sink.start(&crate::results::tests::info());
    let mut totals = Totals::default();
    for iv in intervals {
        totals.add(iv);
        let tick = Tick {
            interval: iv,
            totals: &totals,
            stage: "stage 1/1",
            level,
            target: &Default::default(),
            server: None,
        };
        sink.interval(&tick).unwrap();
    }
}

/// Latencies (µs) spread over every bucket, some on HDR bucket edges.
fn latencies_us(seed: u64) -> Vec<u64> {
    let mut out: Vec<u64> = BOUNDS_US
        .iter()
        .flat_map(|&b| [b - 1, b, b + 1, b + b / 3])
        .collect();
    out.extend((1..400).map(|i| (i * i * 37 + seed * 101) % 2_000_000 + 1));
    out.push(90_000_000); // beyond the last bound
    out
}

#[test]
fn buckets_are_cumulative_and_equal_the_hdr_counts() {
    let m = Metrics::new();
    let login = m.id("rest.login");
    let mut all_us = Vec::new();
    let mut intervals = Vec::new();
    for seed in 0..3 {
        for us in latencies_us(seed) {
            m.record(login, Sample::ok(Duration::from_micros(us)));
            all_us.push(us);
        }
        m.record(
            login,
            Sample::err(Duration::from_millis(3), ErrorClass::Http(503)),
        );
        intervals.push(m.snapshot());
    }
    let live = LiveMetrics::new();
    feed(&live, &intervals, 10.0);
    let lines = parse(&live.encode().unwrap());

    let metric = [("metric", "rest.login")];
    let buckets = find(&lines, "rocketload_latency_seconds_bucket", &metric);
    assert_eq!(buckets.len(), BOUNDS_US.len() + 1);
    let reference = new_histogram();
    let mut previous = 0.0;
    for (b, &upper_us) in buckets.iter().zip(BOUNDS_US.iter()) {
        let le: f64 = b.labels["le"].parse().unwrap();
        assert_eq!((le * 1e6).round() as u64, upper_us);
        let expected = all_us
            .iter()
            .filter(|&&us| reference.highest_equivalent(us) <= upper_us)
            .count() as f64;
        assert_eq!(b.value, expected, "le={le}");
        assert!(b.value >= previous, "not cumulative at le={le}");
        previous = b.value;
    }
    let inf = buckets.last().unwrap();
    assert_eq!(inf.labels["le"], "+Inf");
    assert_eq!(inf.value, all_us.len() as f64);
    assert_eq!(
        value(&lines, "rocketload_latency_seconds_count", &metric),
        all_us.len() as f64
    );
    let sum = value(&lines, "rocketload_latency_seconds_sum", &metric);
    let exact: f64 = all_us.iter().map(|&us| us as f64 / 1e6).sum();
    assert!((sum - exact).abs() / exact < 0.001, "{sum} vs {exact}");
    // Failures count as operations and by class, not in the latency.
    assert_eq!(
        value(&lines, "rocketload_operations_total", &metric),
        (all_us.len() + 3) as f64
    );
    assert_eq!(
        value(
            &lines,
            "rocketload_errors_total",
            &[("metric", "rest.login"), ("class", "http_503")]
        ),
        3.0
    );
}

#[test]
fn observations_counters_and_gauges_have_their_own_series() {
    let m = Metrics::new();
    m.record(
        m.id(names::MESSAGE_E2E),
        Sample::ok(Duration::from_millis(7)),
    );
    m.record(
        m.id(names::GENERATOR_LAG),
        Sample::ok(Duration::from_micros(300)),
    );
    m.record(
        m.id(names::ITERATIONS),
        Sample::ok(Duration::from_millis(40)),
    );
    m.record(
        m.id(names::ITERATIONS),
        Sample::err(Duration::from_millis(40), ErrorClass::Timeout),
    );
    m.add(m.id(names::MESSAGE_LOST), 2);
    m.add(m.id(names::ITERATIONS_DROPPED), 5);
    m.gauge(names::VUS_ACTIVE).set(12);
    m.gauge(names::GENERATOR_CPU_PCT).set(35);
    let live = LiveMetrics::new();
    feed(&live, &[m.snapshot()], 10.0);
    let lines = parse(&live.encode().unwrap());

    assert_eq!(
        value(&lines, "rocketload_message_e2e_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        value(&lines, "rocketload_generator_lag_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        value(&lines, "rocketload_iteration_duration_seconds_count", &[]),
        1.0
    );
    assert_eq!(value(&lines, "rocketload_iterations_total", &[]), 2.0);
    assert_eq!(
        value(&lines, "rocketload_iterations_failed_total", &[]),
        1.0
    );
    // Observations are not operations: no per-metric series, no errors.
    assert!(find(&lines, "rocketload_operations_total", &[]).is_empty());
    assert!(find(&lines, "rocketload_errors_total", &[]).is_empty());
    assert_eq!(
        value(&lines, "rocketload_message_deliveries_lost_total", &[]),
        2.0
    );
    assert_eq!(value(&lines, "rocketload_arrivals_dropped_total", &[]), 5.0);
    // Counters nothing incremented are there, at zero.
    assert_eq!(
        value(&lines, "rocketload_message_deliveries_duplicate_total", &[]),
        0.0
    );
    assert_eq!(value(&lines, "rocketload_vus_active", &[]), 12.0);
    assert_eq!(value(&lines, "rocketload_generator_cpu_ratio", &[]), 0.35);
    // The test run is closed-model: planned VUs follow the level.
    assert_eq!(value(&lines, "rocketload_vus_planned", &[]), 10.0);
    assert!(find(&lines, "rocketload_arrivals_planned_per_second", &[]).is_empty());
    let info = find(&lines, "rocketload_run_info", &[]);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].value, 1.0);
    assert_eq!(info[0].labels["scenario"], "smoke");
    assert_eq!(info[0].labels["run_id"], "0000002a");
    assert_eq!(info[0].labels["shard"], "1/4");
    // Every series is rocketload's.
    assert!(lines.iter().all(|l| l.name.starts_with("rocketload_")));
}

#[test]
fn every_counter_of_a_run_has_a_series() {
    for name in names::COUNTERS {
        assert!(
            COUNTERS.iter().any(|(key, ..)| key == name),
            "counter {name} has no live series"
        );
    }
}

#[test]
fn label_sets_are_capped() {
    let m = Metrics::new();
    for i in 0..MAX_SERIES + 5 {
        m.record(
            m.id(&format!("step.{i}")),
            Sample::ok(Duration::from_millis(1)),
        );
    }
    let live = LiveMetrics::new();
    feed(&live, &[m.snapshot()], 1.0);
    let lines = parse(&live.encode().unwrap());
    let ops = find(&lines, "rocketload_operations_total", &[]);
    assert_eq!(ops.len(), MAX_SERIES + 1);
    assert_eq!(
        value(
            &lines,
            "rocketload_operations_total",
            &[("metric", "other")]
        ),
        5.0
    );
}

#[tokio::test]
async fn serves_and_lingers_until_a_final_scrape() {
    let server = LiveServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.url();
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        body.contains("rocketload_arrivals_dropped_total 0"),
        "{body}"
    );
    let scraper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        reqwest::get(&url).await.unwrap().status()
    });
    let waited = std::time::Instant::now();
    assert_eq!(
        server.linger(Duration::from_secs(20)).await,
        Linger::Scraped
    );
    assert!(waited.elapsed() < Duration::from_secs(10));
    assert_eq!(scraper.await.unwrap(), 200);

    let quiet = LiveServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(
        quiet.linger(Duration::from_millis(100)).await,
        Linger::TimedOut
    );
}

#[test]
fn a_busy_address_is_an_error_naming_it() {
    let first = LiveServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = first.server.addr();
    let err = LiveServer::bind(addr).err().expect("the port is taken");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
