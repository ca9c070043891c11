//! The state as OpenMetrics text. Every series is prefixed `rocketload_`;
//! results/README.md ("Live metrics") lists them.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::buckets::Buckets;
use super::state::{COUNTERS, State};

type Fmt = Result<(), std::fmt::Error>;

/// Writes every series of `s`.
pub fn encode_state(s: &State, enc: &mut DescriptorEncoder) -> Fmt {
    if let Some(run) = &s.run {
        let mut m = enc.encode_descriptor(
            "rocketload_run_info",
            "The run this process measures (value 1)",
            None,
            MetricType::Gauge,
        )?;
        let labels = [
            ("scenario", run.scenario.as_str()),
            ("run_id", run.run_id.as_str()),
            ("shard", run.shard.as_str()),
        ];
        ConstGauge::new(1i64).encode(m.encode_family(&labels)?)?;
    }

    let mut m = enc.encode_descriptor(
        "rocketload_latency",
        "Latency of successful operations from their intended start (coordinated-omission corrected), by metric",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (metric, b) in &s.latency {
        histogram(b, &mut m.encode_family(&[("metric", metric.as_str())])?)?;
    }
    let mut m = enc.encode_descriptor(
        "rocketload_operations",
        "Operations completed, successes and failures, by metric",
        None,
        MetricType::Counter,
    )?;
    for (metric, n) in &s.operations {
        ConstCounter::new(*n).encode(m.encode_family(&[("metric", metric.as_str())])?)?;
    }
    let mut m = enc.encode_descriptor(
        "rocketload_errors",
        "Failed operations by metric and error class",
        None,
        MetricType::Counter,
    )?;
    for ((metric, class), n) in &s.errors {
        let labels = [("metric", metric.as_str()), ("class", class.as_str())];
        ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
    }

    let histograms: [(&str, &str, &Buckets); 3] = [
        (
            "rocketload_message_e2e",
            "Message delivery latency: one sender's send to each subscribed receiver's receipt",
            &s.e2e,
        ),
        (
            "rocketload_iteration_duration",
            "Duration of successful iterations of a behaviour",
            &s.iteration,
        ),
        (
            "rocketload_generator_lag",
            "The load generator's own scheduler lag",
            &s.lag,
        ),
    ];
    for (name, help, b) in histograms {
        let mut m =
            enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        histogram(b, &mut m)?;
    }

    let counters = [
        (
            "rocketload_iterations",
            "Iterations completed, successes and failures",
            s.iterations,
        ),
        (
            "rocketload_iterations_failed",
            "Iterations in which an operation failed",
            s.iterations_failed,
        ),
    ];
    let known = COUNTERS
        .iter()
        .map(|(key, name, help)| (*name, *help, s.counters.get(key).copied().unwrap_or(0)));
    for (name, help, n) in counters.into_iter().chain(known) {
        let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(n).encode(m)?;
    }

    let mut gauges: Vec<(&str, &str, f64)> =
        vec![("rocketload_vus_active", "VUs running", s.vus_active as f64)];
    if let Some(v) = s.vus_planned() {
        gauges.push((
            "rocketload_vus_planned",
            "VUs the plan allows now: closed model the stage's level, open model the pool (max_vus)",
            v,
        ));
    }
    if let Some(v) = s.arrivals_planned() {
        gauges.push((
            "rocketload_arrivals_planned_per_second",
            "Open model: the arrival rate the plan asks for now",
            v,
        ));
    }
    if let Some(pct) = s.cpu_pct {
        gauges.push((
            "rocketload_generator_cpu_ratio",
            "The generator's CPU use over the cores it may use (1 = all of them)",
            pct as f64 / 100.0,
        ));
    }
    for (name, help, v) in gauges {
        let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(v).encode(m)?;
    }
    Ok(())
}

fn histogram(b: &Buckets, m: &mut prometheus_client::encoding::MetricEncoder) -> Fmt {
    m.encode_histogram::<NoLabelSet>(b.sum_s, b.count(), &b.for_encoding(), None)
}
