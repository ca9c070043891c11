//! What identifies a run: the run itself, the generating host, the target.

use serde::{Deserialize, Serialize};

/// Fixed at the start of a run; written to `run.json` and repeated in
/// `summary.json` under `run`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    pub scenario: String,
    pub scenario_path: String,
    pub started_unix_ms: u64,
    pub seed: u64,
    /// `closed` (VUs) or `open` (arrival rate).
    pub model: String,
    /// The command line as typed.
    pub command: Vec<String>,
    /// `[index, count]` when this process ran one shard of a sharded run.
    pub shard: Option<(u32, u32)>,
    pub target_urls: Vec<String>,
    /// True when the target was the built-in reference server.
    pub embedded: bool,
}

/// The machine that generated the load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    /// Cores available to this process.
    pub cpus: u32,
    /// OS and kernel, e.g. `linux 6.8.0`.
    pub os: String,
    pub arch: String,
    pub rocketload_version: String,
}

/// What was measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub urls: Vec<String>,
    pub embedded: bool,
}

impl HostInfo {
    /// Describes this machine (best effort: unknown fields stay empty).
    pub fn current() -> HostInfo {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .ok()
        };
        let hostname = read("/proc/sys/kernel/hostname")
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let os = match read("/proc/sys/kernel/osrelease") {
            Some(release) => format!("{} {release}", std::env::consts::OS),
            None => std::env::consts::OS.to_string(),
        };
        HostInfo {
            hostname,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            os,
            arch: std::env::consts::ARCH.to_string(),
            rocketload_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

impl TargetInfo {
    pub fn of(info: &RunInfo) -> TargetInfo {
        TargetInfo {
            urls: info.target_urls.clone(),
            embedded: info.embedded,
        }
    }
}
