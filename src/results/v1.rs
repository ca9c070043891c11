//! Reading schema-1 summaries (the results of rocketload before the
//! fingerprint): each field is carried to its schema-2 home; what schema
//! 1 did not record (CPU model, memory, virtualization, the load's stages,
//! the Rocket.Chat version) stays empty rather than guessed.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::host::Host;
use super::info::{LoadSpec, RunInfo, ShardInfo, ShardRef, ShardTiming, TargetInfo, Tool};
use super::notes::{Note, NoteKind};
use super::summary::{MetricSummary, RunSummary, SCHEMA, Summary};
use super::thresholds::{Stat, ThresholdResult};
use super::totals::GaugeSummary;
use crate::scenario::Model;

#[derive(Deserialize)]
struct V1 {
    run: V1Run,
    host: V1Host,
    metrics: BTreeMap<String, MetricSummary>,
    #[serde(default)]
    counters: BTreeMap<String, u64>,
    #[serde(default)]
    gauges: BTreeMap<String, GaugeSummary>,
    #[serde(default)]
    thresholds: Vec<V1Threshold>,
    #[serde(default)]
    notes: Vec<String>,
}

#[derive(Deserialize)]
struct V1Run {
    id: String,
    scenario: String,
    scenario_path: String,
    started_unix_ms: u64,
    seed: u64,
    model: Model,
    command: Vec<String>,
    shard: Option<(u32, u32)>,
    target_urls: Vec<String>,
    embedded: bool,
    ended_unix_ms: u64,
    duration_s: f64,
    intervals: u64,
}

#[derive(Deserialize)]
struct V1Host {
    hostname: String,
    cpus: u32,
    /// `linux 6.8.0`
    os: String,
    arch: String,
    rocketload_version: String,
}

#[derive(Deserialize)]
struct V1Threshold {
    metric: String,
    limit: String,
    threshold: f64,
    actual: Option<f64>,
    passed: bool,
}

/// A schema-1 `summary.json` as a schema-2 [`Summary`].
pub fn upgrade(value: serde_json::Value) -> Result<Summary, String> {
    let v1: V1 = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let run = v1.run;
    let shard = run.shard.map(|(index, count)| ShardRef { index, count });
    let (os, kernel) = match v1.host.os.split_once(' ') {
        Some((os, kernel)) => (os.to_string(), Some(kernel.to_string())),
        None => (v1.host.os.clone(), None),
    };
    let host = Host {
        hostname: v1.host.hostname,
        cores: v1.host.cpus,
        os,
        kernel,
        arch: v1.host.arch,
        ..Host::default()
    };
    let thresholds = v1
        .thresholds
        .into_iter()
        .map(|t| {
            let stat = Stat::from_key(&t.limit)
                .ok_or_else(|| format!("threshold on {}: unknown limit `{}`", t.metric, t.limit))?;
            Ok(ThresholdResult {
                metric: t.metric,
                stat,
                bound: stat.bound(),
                limit: t.threshold,
                unit: stat.unit(),
                actual: t.actual,
                passed: t.passed,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let info = RunInfo {
        id: run.id.clone(),
        scenario: run.scenario,
        scenario_path: run.scenario_path,
        scenario_sha256: String::new(),
        started_unix_ms: run.started_unix_ms,
        seed: run.seed,
        load: LoadSpec {
            model: run.model,
            unit: match run.model {
                Model::Closed => "vus".into(),
                Model::Open => "arrivals_per_s".into(),
            },
            start: 0.0,
            stages: Vec::new(),
            max_vus: None,
            graceful_stop_s: 0.0,
        },
        command: run.command,
        shard,
        repeat: None,
        timing: ShardTiming::default(),
    };
    Ok(Summary {
        schema: SCHEMA,
        shards: vec![ShardInfo {
            run_id: run.id,
            shard,
            hostname: host.hostname.clone(),
            started_unix_ms: run.started_unix_ms,
            ended_unix_ms: run.ended_unix_ms,
            timing: ShardTiming::default(),
        }],
        run: RunSummary {
            info,
            ended_unix_ms: run.ended_unix_ms,
            duration_s: run.duration_s,
            intervals: run.intervals,
        },
        tool: Tool {
            name: "rocketload".into(),
            version: v1.host.rocketload_version,
            git_commit: None,
        },
        host,
        target: TargetInfo {
            instances: run.target_urls.len() as u32,
            urls: run.target_urls,
            embedded: run.embedded,
            ..TargetInfo::default()
        },
        metrics: v1.metrics,
        counters: v1.counters,
        gauges: v1.gauges,
        thresholds,
        notes: v1
            .notes
            .into_iter()
            .map(|text| Note::new(NoteKind::Other, text))
            .collect(),
        recovery: None,
        target_metrics: None,
    })
}
