//! What identifies a run: the run itself (with its load as data), the
//! tool that ran it, the target it measured and the shards it is made of.
//! The generating host is in [`super::host`].

use serde::{Deserialize, Serialize};

use crate::scenario::{Load, Model};

/// Fixed at the start of a run; written to `run.json` and repeated in
/// `summary.json` under `run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    pub scenario: String,
    pub scenario_path: String,
    /// SHA-256 of the scenario file as run (after `${VAR}` substitution,
    /// secrets' values left out); empty when unknown (schema 1).
    #[serde(default)]
    pub scenario_sha256: String,
    pub started_unix_ms: u64,
    pub seed: u64,
    pub load: LoadSpec,
    /// The command line as typed.
    pub command: Vec<String>,
    /// When this process ran one shard of a sharded run.
    pub shard: Option<ShardRef>,
    /// When this run is one of `run --repeat N` (absent before it existed).
    #[serde(default)]
    pub repeat: Option<RepeatRef>,
    /// `--start-at` and the clock offset of a sharded run.
    #[serde(flatten)]
    pub timing: ShardTiming,
}

/// What merge needs to judge whether shards ran together: the time they
/// were told to start at and how far this host's clock was from the
/// target's. Every field is absent when not known (a run without
/// `--start-at` or `--shard`, older files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardTiming {
    /// `--start-at`, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_unix_ms: Option<u64>,
    /// The target's clock minus this host's at the start, ms, from the
    /// target's HTTP `Date` header (the middle of the bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    /// Half the width of that bound, ms: the offset is within
    /// `clock_offset_ms` ± this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_uncertainty_ms: Option<f64>,
}

impl ShardTiming {
    /// (offset, uncertainty), when both were recorded.
    pub fn clock_offset(&self) -> Option<(f64, f64)> {
        self.clock_offset_ms.zip(self.clock_offset_uncertainty_ms)
    }
}

/// Shard I of N (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    pub index: u32,
    pub count: u32,
}

/// Repetition I of N (1-based) of `run --repeat N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatRef {
    pub index: u32,
    pub count: u32,
}

/// The effective load of this process (after overrides and sharding).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSpec {
    pub model: Model,
    /// `vus` (closed) or `arrivals_per_s` (open).
    pub unit: String,
    /// The level at t = 0: 0 for stages as written, the level itself for
    /// the `vus`/`rate` shorthand and overrides (a hold from the start).
    #[serde(default)]
    pub start: f64,
    /// Each stage moves linearly from the previous level to `target`.
    pub stages: Vec<StageSpec>,
    /// Open model: the VU pool.
    pub max_vus: Option<u32>,
    pub graceful_stop_s: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    pub duration_s: f64,
    pub target: f64,
}

impl LoadSpec {
    /// From the plan's effective (normalized) load.
    pub fn of(load: &Load, max_vus: Option<u32>) -> LoadSpec {
        LoadSpec {
            start: load.start,
            model: load.model,
            unit: match load.model {
                Model::Closed => "vus".into(),
                Model::Open => "arrivals_per_s".into(),
            },
            stages: load
                .stages
                .iter()
                .map(|s| StageSpec {
                    duration_s: s.duration.as_secs_f64(),
                    target: s.target,
                })
                .collect(),
            max_vus,
            graceful_stop_s: load.graceful_stop.as_secs_f64(),
        }
    }

    /// The highest level anywhere in the load.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }
}

/// The program that wrote the results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// The commit it was built from, when built from a git checkout.
    pub git_commit: Option<String>,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("ROCKETLOAD_GIT_COMMIT")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        }
    }
}

/// What was measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub urls: Vec<String>,
    pub instances: u32,
    /// True when the target was the built-in reference server.
    pub embedded: bool,
    /// `version` from `GET /api/info` (the embedded server reports its own).
    pub rocketchat_version: Option<String>,
    /// Whether that release is still supported, from the server's signed
    /// `supportedVersions` list; null when the server sends none or the
    /// list does not name the release.
    pub version_supported: Option<bool>,
    /// The release's support end as the list gives it.
    pub supported_until: Option<String>,
    /// What the preflight saw before any load (the embedded server too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<PreflightFinding>,
    /// What provisioning created and reused; null when the run did not
    /// provision (a merge, or a summary from before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<Provisioning>,
    /// Settings `--configure-target` changed for the run (and put back
    /// when it ended).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configured: Vec<ConfiguredSetting>,
}

/// One target setting changed for the test window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredSetting {
    pub id: String,
    /// Its value before the run.
    pub was: serde_json::Value,
    /// Its value during the run.
    pub set: serde_json::Value,
}

/// One finding of the preflight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PreflightFinding {
    /// `ok`, `warn` or `block` (a run goes on past a block only with
    /// `--accept-rate-limits`).
    pub level: String,
    pub topic: String,
    pub message: String,
}

/// What provisioning did to the target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provisioning {
    /// `admin` (users.create / users.info, rooms created with their
    /// members or invited to), `users` (each user registered if asked,
    /// logged in and joined) or `skipped` (--skip-provision).
    pub by: String,
    pub users_created: u64,
    pub users_reused: u64,
    pub rooms_created: u64,
    pub rooms_reused: u64,
    pub memberships: u64,
    /// Calls answered 429 and retried after the window's reset.
    pub rate_limited_retries: u64,
    /// Calls that failed (5xx, timeout, connection) and were retried.
    pub failed_retries: u64,
    /// Time spent waiting to retry, summed over concurrent calls.
    pub waited_s: f64,
}

/// One process's part of the results: a plain run has one, a merge of
/// shards has one per shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub run_id: String,
    pub shard: Option<ShardRef>,
    pub hostname: String,
    pub started_unix_ms: u64,
    pub ended_unix_ms: u64,
    #[serde(flatten)]
    pub timing: ShardTiming,
}
