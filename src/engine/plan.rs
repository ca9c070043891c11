//! The run plan: a scenario plus command-line overrides and the shard
//! slice, resolved into data before anything runs (k6's "the plan is
//! data"). Executors read the effective load from here only.

use std::net::IpAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

use super::error::EngineError;
use super::profile::Profile;
use crate::rocketchat::ClientConfig;
use crate::scenario::{Load, Model, Scenario};

/// Sender numbers in message tokens are unique across the shards of a
/// test: VU v of shard I/N sends as v * N + (I - 1), so a receiver tells
/// another shard's message from its own and never confuses their
/// sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenScope {
    /// The test id tokens carry.
    pub run: u32,
    /// This shard, 0-based.
    shard: u32,
    shards: u32,
}

impl TokenScope {
    /// Tokens of test `run` on shard `(I, N)` (1-based; `None`: unsharded).
    pub fn of(run: u32, shard: Option<(u32, u32)>) -> TokenScope {
        let (index, count) = shard.unwrap_or((1, 1));
        TokenScope {
            run,
            shard: index.saturating_sub(1),
            shards: count.max(1),
        }
    }

    /// The sender number of this shard's VU `vu`.
    pub fn sender(&self, vu: u32) -> u32 {
        vu.wrapping_mul(self.shards).wrapping_add(self.shard)
    }

    /// Whether `sender` is a VU of another shard.
    pub fn is_other_shard(&self, sender: u32) -> bool {
        sender % self.shards != self.shard
    }
}

/// Command-line overrides of the scenario's load.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub duration: Option<Duration>,
    pub vus: Option<u32>,
    pub rate: Option<f64>,
}

#[derive(Clone)]
pub struct RunPlan {
    /// The scenario with `load` replaced by this shard's effective load.
    pub scenario: Scenario,
    /// Base URLs of the target's instances; the runner decides them
    /// (flags, the scenario, or the embedded server) and may leave them
    /// empty while it only checks the plan.
    pub targets: Vec<String>,
    pub client: ClientConfig,
    pub source_ips: Vec<IpAddr>,
    pub seed: u64,
    /// This measurement's id (results, message ids); fresh in each run.
    pub run_id: u32,
    /// The test id message tokens carry: VUs count deliveries of tokens
    /// with this id only. Shards of one test share it
    /// ([`RunPlan::share_token_run`]); otherwise it is `run_id`.
    pub token_run: u32,
    /// (I, N), 1-based.
    pub shard: Option<(u32, u32)>,
    pub skip_provision: bool,
}

impl RunPlan {
    pub fn new(
        mut scenario: Scenario,
        targets: Vec<String>,
        overrides: Overrides,
        shard: Option<(u32, u32)>,
        skip_provision: bool,
    ) -> Result<RunPlan, EngineError> {
        if let Some((i, n)) = shard
            && (n == 0 || i == 0 || i > n)
        {
            return Err(EngineError::Plan(format!(
                "shard {i}/{n}: expected 1 <= I <= N"
            )));
        }
        if let Some((_, n)) = shard
            && scenario.users.count < n
        {
            return Err(EngineError::Plan(format!(
                "{n} shards for users.count {}: each shard drives its own users, so some would have none; run at most {} shards or raise users.count",
                scenario.users.count, scenario.users.count
            )));
        }
        apply_overrides(&mut scenario.load, &overrides)?;
        check_load(&scenario.load)?;
        if let Some((i, n)) = shard {
            shard_load(&mut scenario.load, i, n);
        }
        let target = scenario.target.as_ref();
        let client = ClientConfig {
            insecure: target.is_some_and(|t| t.insecure),
            headers: target
                .map(|t| {
                    t.headers
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            source_ip: None,
            timeout: scenario.timeout,
        };
        let source_ips = target.map(|t| t.source_ips.clone()).unwrap_or_default();
        let seed = scenario.seed.unwrap_or_else(rand::random);
        let run_id = rand::random();
        Ok(RunPlan {
            scenario,
            targets,
            client,
            source_ips,
            seed,
            run_id,
            token_run: run_id,
            shard,
            skip_provision,
        })
    }

    /// A sharded run takes its token id from `test`, what every shard of
    /// one test has in common (the scenario's hash, `--start-at`, the
    /// repetition), so the shards count each other's deliveries. Derived
    /// rather than passed as a flag: the shards' command lines already
    /// agree on those, and a forgotten flag would lose the cross-shard
    /// samples without a word. Unsharded runs keep their own id.
    pub fn share_token_run(&mut self, test: &[&str]) {
        if self.shard.is_none() {
            return;
        }
        let digest = Sha256::digest(test.join("\n").as_bytes());
        self.token_run = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    }

    /// How this run's VUs name themselves and each other in tokens.
    pub fn tokens(&self) -> TokenScope {
        TokenScope::of(self.token_run, self.shard)
    }

    /// The effective load profile: VUs (closed) or arrivals/s (open).
    pub fn profile(&self) -> Profile {
        profile_of(&self.scenario.load)
    }

    /// Length of the stages; the graceful stop is not included.
    pub fn total_duration(&self) -> Duration {
        self.profile().total()
    }

    /// User numbers (1-based, as in the user names) this shard drives:
    /// every user n with (n - 1) mod N = I - 1.
    pub fn shard_users(&self) -> Vec<u32> {
        let (i, n) = self.shard.unwrap_or((1, 1));
        (1..=self.scenario.users.count)
            .filter(|u| (u - 1) % n == i - 1)
            .collect()
    }

    /// Open model: the VU pool size of this shard.
    pub fn max_vus(&self) -> u32 {
        let load = &self.scenario.load;
        load.max_vus
            .unwrap_or_else(|| self.shard_users().len() as u32)
            .max(1)
    }

    /// The random generator of one VU; the same seed and VU index give the
    /// same choices in every run. Shards get disjoint streams.
    pub fn vu_rng(&self, vu: u32) -> StdRng {
        let (i, n) = self.shard.unwrap_or((1, 1));
        let global = u64::from(vu) * u64::from(n) + u64::from(i - 1);
        StdRng::seed_from_u64(mix(self.seed ^ mix(global.wrapping_add(1))))
    }

    /// The behaviour VU `vu` runs. Behaviours with `vus: k` take the first
    /// VUs in order (this shard's share of k); every other VU picks among
    /// the unpinned behaviours by weight, with its own seeded generator.
    pub fn behaviour_for(&self, vu: u32, rng: &mut StdRng) -> usize {
        let behaviours = &self.scenario.behaviours;
        let (i, n) = self.shard.unwrap_or((1, 1));
        let mut first = 0u64;
        for (b, beh) in behaviours.iter().enumerate() {
            if let Some(k) = beh.vus {
                first += share(u64::from(k), i - 1, n);
                if u64::from(vu) < first {
                    return b;
                }
            }
        }
        let unpinned = || {
            behaviours
                .iter()
                .enumerate()
                .filter(|(_, b)| b.vus.is_none())
        };
        let total: u64 = unpinned().map(|(_, b)| u64::from(b.weight)).sum();
        if total == 0 {
            return unpinned().next().map_or(0, |(b, _)| b);
        }
        let mut x = rng.random_range(0..total);
        for (b, beh) in unpinned() {
            let w = u64::from(beh.weight);
            if x < w {
                return b;
            }
            x -= w;
        }
        0
    }

    /// Target URL of a VU: VUs are spread round-robin over the instances.
    pub fn target_of(&self, vu: u32) -> &str {
        // `new` guarantees a target; an empty list (built by hand) gives "".
        match self.targets.len() {
            0 => "",
            n => &self.targets[vu as usize % n],
        }
    }

    /// Client settings of a VU, with its source address (round-robin).
    pub fn client_of(&self, vu: u32) -> ClientConfig {
        let mut cfg = self.client.clone();
        if !self.source_ips.is_empty() {
            cfg.source_ip = Some(self.source_ips[vu as usize % self.source_ips.len()]);
        }
        cfg
    }

    /// "stage 2/3: 40 -> 100 VUs" at `elapsed` into the run.
    pub fn stage_label(&self, elapsed: Duration) -> String {
        let p = self.profile();
        let i = p.stage_at(elapsed);
        let unit = match self.scenario.load.model {
            Model::Closed => "VUs",
            Model::Open => "arrivals/s",
        };
        let from = if i == 0 { p.start } else { p.stages[i - 1].1 };
        let to = p.stages.get(i).map_or(from, |s| s.1);
        let what = if (to - from).abs() < f64::EPSILON {
            format!("hold {} {unit}", fmt_level(to))
        } else {
            format!("{} -> {} {unit}", fmt_level(from), fmt_level(to))
        };
        if elapsed >= p.total() {
            return "graceful stop".into();
        }
        format!("stage {}/{}: {what}", i + 1, p.stages.len())
    }

    /// One paragraph: model, stages, VUs or rates, shard, seed, targets.
    pub fn describe(&self) -> String {
        let load = &self.scenario.load;
        let p = self.profile();
        let unit = match load.model {
            Model::Closed => "VUs",
            Model::Open => "arrivals/s",
        };
        let mut level = p.start;
        let stages: Vec<String> = p
            .stages
            .iter()
            .map(|(d, to)| {
                let d = humantime::format_duration(*d);
                let s = if (*to - level).abs() < f64::EPSILON {
                    format!("hold {} {unit} for {d}", fmt_level(*to))
                } else {
                    format!("{} -> {} {unit} in {d}", fmt_level(level), fmt_level(*to))
                };
                level = *to;
                s
            })
            .collect();
        let mut out = match load.model {
            Model::Closed => format!(
                "closed model (ramping VUs), {} stage(s) over {}: {}; graceful stop {}",
                p.stages.len(),
                humantime::format_duration(p.total()),
                stages.join(", "),
                humantime::format_duration(load.graceful_stop),
            ),
            Model::Open => format!(
                "open model (arrival rate), {} stage(s) over {}: {}; ~{:.0} arrivals, \
                 pool of {} VUs, an arrival waits at most {} for a free VU; graceful stop {}",
                p.stages.len(),
                humantime::format_duration(p.total()),
                stages.join(", "),
                p.integral().floor(),
                self.max_vus(),
                humantime::format_duration(load.max_queue),
                humantime::format_duration(load.graceful_stop),
            ),
        };
        let users = self.shard_users().len();
        out.push_str(&format!(
            "; {users} user(s), {} behaviour(s)",
            self.scenario.behaviours.len()
        ));
        if let Some((i, n)) = self.shard {
            out.push_str(&format!(" (shard {i}/{n})"));
        }
        out.push_str(&format!(
            "; seed {}; target {}",
            self.seed,
            self.targets.join(", ")
        ));
        out
    }
}

fn fmt_level(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// splitmix64 finaliser: spreads nearby seeds over the whole space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The profile of a normalized load (see `Load::normalize`).
pub(crate) fn profile_of(load: &Load) -> Profile {
    Profile {
        start: load.start,
        stages: load.stages.iter().map(|s| (s.duration, s.target)).collect(),
    }
}

/// Any override turns the load into one constant stage: the overridden
/// level (or the scenario's peak) for the overridden duration (or the
/// scenario's length).
fn apply_overrides(load: &mut Load, o: &Overrides) -> Result<(), EngineError> {
    if o.duration.is_none() && o.vus.is_none() && o.rate.is_none() {
        return Ok(());
    }
    match load.model {
        Model::Closed if o.rate.is_some() => {
            return Err(EngineError::Plan(
                "--rate applies to the open model; this scenario uses `load.model: closed` (use --vus)"
                    .into(),
            ));
        }
        Model::Open if o.vus.is_some() => {
            return Err(EngineError::Plan(
                "--vus applies to the closed model; this scenario uses `load.model: open` (use --rate, or set load.max_vus)"
                    .into(),
            ));
        }
        _ => {}
    }
    if let Some(r) = o.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(EngineError::Plan(format!(
            "--rate {r}: expected a positive number"
        )));
    }
    let p = profile_of(load);
    let level = match load.model {
        Model::Closed => o.vus.map(f64::from).unwrap_or(p.peak()),
        Model::Open => o.rate.unwrap_or(p.peak()),
    };
    let duration = o.duration.unwrap_or(p.total());
    load.set_constant(
        match load.model {
            Model::Closed => level.round(),
            Model::Open => level,
        },
        duration,
    );
    Ok(())
}

fn check_load(load: &Load) -> Result<(), EngineError> {
    let p = profile_of(load);
    if p.total().is_zero() {
        return Err(EngineError::Plan(
            "the load has no duration: give `load.stages`, or `load.duration` with `vus`/`rate`, or --duration".into(),
        ));
    }
    if let Some(msg) = crate::scenario::beyond_run_cap(p.total()) {
        return Err(EngineError::Plan(msg));
    }
    if p.stages.iter().any(|(_, t)| !(t.is_finite() && *t >= 0.0)) {
        return Err(EngineError::Plan(
            "a stage target is negative or not a number".into(),
        ));
    }
    Ok(())
}

/// This shard's part of `total` units when they are dealt out evenly:
/// floor(T(i+1)/N) - floor(Ti/N) with 0-based i, so the shares sum to T.
pub(crate) fn share(total: u64, i: u32, n: u32) -> u64 {
    let (i, n) = (u128::from(i), u128::from(n));
    let t = u128::from(total);
    ((t * (i + 1)) / n - (t * i) / n) as u64
}

/// Scales the load to shard I of N: VU counts are dealt out so the shards
/// sum exactly; rates are divided (floating point sums exactly enough).
fn shard_load(load: &mut Load, i: u32, n: u32) {
    let idx = i - 1;
    let scale_vus = |v: f64| share(v.round().max(0.0) as u64, idx, n) as f64;
    match load.model {
        Model::Closed => {
            load.start = scale_vus(load.start);
            for s in &mut load.stages {
                s.target = scale_vus(s.target);
            }
        }
        Model::Open => {
            load.start /= f64::from(n);
            for s in &mut load.stages {
                s.target /= f64::from(n);
            }
            // A shard with a rate needs at least one VU to serve it.
            load.max_vus = load
                .max_vus
                .map(|v| (share(u64::from(v), idx, n) as u32).max(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_exactly() {
        for total in [0u64, 1, 7, 10, 99, 1000] {
            for n in 1..=7 {
                let sum: u64 = (0..n).map(|i| share(total, i, n)).sum();
                assert_eq!(sum, total, "total {total} over {n}");
                let max = (0..n).map(|i| share(total, i, n)).max().unwrap_or(0);
                let min = (0..n).map(|i| share(total, i, n)).min().unwrap_or(0);
                assert!(max - min <= 1);
            }
        }
    }

    #[test]
    fn mix_spreads() {
        assert_ne!(mix(1), mix(2));
    }
}
