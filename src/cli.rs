//! Command-line definitions. Parsing only checks what was typed; commands
//! turn these into typed plans.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

use crate::scrape::ScrapeUrl;

#[derive(Debug, Parser)]
#[command(
    name = "rocketload",
    version,
    about = "Load tests and capacity benchmarks for Rocket.Chat deployments",
    long_about = "Load tests and capacity benchmarks for Rocket.Chat deployments.\n\n\
        Scenario files drive virtual users over Rocket.Chat's REST API and realtime \
        websocket (DDP); every operation and message delivery lands in an HDR histogram.\n\n\
        Exit codes: 0 pass, 1 a threshold failed, 2 bad input (scenario, flag, results \
        file, or a target unreachable at start; nothing measured), 70 rocketload itself \
        failed (the async runtime did not start), 74 results could not be written, \
        130 interrupted (partial results written)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: provision users and rooms, drive virtual users, write results.
    Run(RunArgs),
    /// Check a scenario file without running it (exit 0 valid, 2 invalid).
    Validate(ValidateArgs),
    /// Run the reference Rocket.Chat-compatible server (REST + DDP): a
    /// simulator for tests and rehearsals, not a Rocket.Chat.
    Serve(ServeArgs),
    /// Ask the target what the scenario will meet, without any load: its
    /// version, registration, REST and DDP rate limiters against the
    /// plan's calls, the admin's access (exit 0 nothing blocks, 2 a
    /// blocking finding or bad input).
    Check(CheckArgs),
    /// Delete what provisioning created on the target, by the scenario's
    /// names, as the admin: lists it, asks, deletes (exit 0 done or nothing
    /// to delete, 1 some deletions failed, 2 bad input or refused).
    Cleanup(CleanupArgs),
    /// Render finished (or partial) runs as text, JSON, CSV, JUnit XML or
    /// Markdown (exit 0 written, 2 bad input, 74 output not written).
    Report(ReportArgs),
    /// Compare runs with their noise: per metric, improved / regressed /
    /// same (~) / inconclusive (exit 0, 1 a regression beyond
    /// --fail-on-regression, 2 bad input).
    Compare(CompareArgs),
    /// Merge the shards of a sharded run into one run directory: histograms
    /// added exactly, thresholds evaluated again on the whole (exit 0 pass,
    /// 1 a merged threshold failed, 2 bad input, 74 output not written).
    Merge(MergeArgs),
    /// Search the largest load that holds every SLO: steps the load up, then
    /// bisects to --resolution and repeats the boundary (exit 0 found or
    /// --max still held, 1 not found below --min, void, or a sizing
    /// shortfall, 2 bad input, 74 capacity.json not written, 130 interrupted).
    Capacity(CapacityArgs),
    /// Compare deployment shapes with the same workload: embedded instance
    /// counts (--local 1,2,4) or named external sets (--set NAME=URL,...),
    /// at one load or by capacity search; efficiency per instance (exit 0
    /// every set measured, 1 a set without a figure, 2 bad input, 74
    /// scaling.json not written, 130 interrupted).
    Scaling(ScalingArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (YAML).
    pub scenario: PathBuf,
    /// Target base URL (http:// or https://), one per Rocket.Chat instance
    /// (repeatable); overrides the scenario's `target.urls`. Without any
    /// target the reference server runs in-process on loopback.
    #[arg(long = "target", value_name = "URL", value_parser = parse_target)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub out: OutArgs,
    /// Run shard I of N (1-based): a disjoint slice of the users and of the
    /// arrival rate. `auto/N` takes I from JOB_COMPLETION_INDEX + 1 (the pod
    /// index of a Kubernetes Indexed Job).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Wait until this time (RFC 3339, e.g. 2026-12-01T10:00:00Z) before the
    /// measured phase, to align shards. A time more than a second past is refused.
    #[arg(long, value_name = "RFC3339", value_parser = parse_start_at)]
    pub start_at: Option<SystemTime>,
    /// Override the load duration, at most the run cap, 7 days. Any
    /// override (--duration, --vus, --rate) flattens the stages into one
    /// constant level from the start: the given one, else the stages' peak.
    #[arg(long, value_parser = parse_run_duration)]
    pub duration: Option<Duration>,
    /// Override the number of VUs, at least 1: closed model only (an open
    /// scenario refuses it; its VU pool is `load.max_vus`). Flattens the
    /// stages, as --duration says.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub vus: Option<u32>,
    /// Override the arrival rate per second, above 0: open model only.
    /// Flattens the stages, as --duration says.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Users and rooms already exist: skip provisioning.
    #[arg(long)]
    pub skip_provision: bool,
    /// Also write the results in this format (repeatable); the extension
    /// picks it: .json, .csv, .xml (JUnit), .md, .html, .txt. A file whose
    /// extension names no format needs --format.
    #[arg(long, value_name = "FILE")]
    pub export: Vec<PathBuf>,
    /// The format of every --export, whatever its extension (as `report
    /// --format`); default: from each file's extension.
    #[arg(long, value_enum, requires = "export")]
    pub format: Option<crate::results::export::Format>,
    /// With a .csv export: one row per metric per interval instead of one
    /// per metric.
    #[arg(long)]
    pub intervals: bool,
    /// Measure the scenario N times (1..=1000) with the same seed, after one
    /// preparation (server start or target check, provisioning), into
    /// OUT/1..N; then print the spread of p50/p95/p99 and rate/s across
    /// them and write it to OUT/repeat.json. Exit: the worst repetition's
    /// (130 interrupted > 74 not written > 2 > 1 threshold failed > 0);
    /// Ctrl-C stops the remaining ones. 1: a plain run into OUT. Compare
    /// two such folders with `rocketload compare BASE CANDIDATE`.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REPEAT)))]
    pub repeat: u32,
    /// With --repeat: wait this long between repetitions (0s..=1h), so the
    /// target's garbage collection and queues settle and one repetition
    /// does not pay for the last one's backlog.
    #[arg(long, value_name = "DURATION", default_value = "5s",
          requires = "repeat", value_parser = parse_cooldown)]
    pub cooldown: Duration,
    /// Serve live Prometheus metrics on this address while the run goes
    /// (http://ADDR/metrics; every series prefixed `rocketload_`, listed in
    /// results/README.md; latencies as histograms). Bound before any load:
    /// a busy address exits 2. Any address is accepted, unlike `serve`,
    /// which needs --public: this endpoint only shows figures, and a shard
    /// in a Kubernetes pod must bind 0.0.0.0:PORT (or its pod IP) for
    /// Prometheus to scrape it. Give 127.0.0.1:PORT to keep it on this host.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// After the run, keep --metrics-listen serving until one scrape has
    /// read the final figures, at most this long (0s..=10m; 0s: stop at
    /// once). Without it Prometheus misses the last seconds of the run;
    /// make it at least the scrape_interval. Not after Ctrl-C, and a
    /// Ctrl-C ends the wait.
    #[arg(long, value_name = "DURATION", default_value = "30s",
          requires = "metrics_listen", value_parser = parse_linger)]
    pub metrics_linger: Duration,
    #[command(flatten)]
    pub scrape: ScrapeArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What a load does about the target's rate limiters.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    /// Run even when the preflight finds the load will meet the target's
    /// rate limits; the 429s are measured and counted apart.
    #[arg(long)]
    pub accept_rate_limits: bool,
    /// Switch the target's REST and DDP rate limiters off for the run
    /// through its settings API, as the admin, and put them back when the
    /// run ends (on an error or Ctrl-C too). Only what was on is changed;
    /// the change is printed with how to undo it by hand.
    #[arg(long)]
    pub configure_target: bool,
}

/// How rocketload reaches a real server: the admin's secret and TLS.
#[derive(Debug, Args, Clone, Default)]
pub struct AccessArgs {
    /// Read the target admin's password from this file's first line
    /// (instead of RC_ADMIN_PASSWORD; the user is RC_ADMIN_USER, else
    /// `users.admin.username`, else `admin`). A personal access token goes
    /// in RC_ADMIN_USER_ID + RC_ADMIN_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// Skip TLS certificate checks (a staging server's self-signed
    /// certificate), as the scenario's `target.insecure: true`; the run's
    /// notes say so.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario file (YAML).
    pub scenario: PathBuf,
    /// Target base URL (repeatable); default: the scenario's `target.urls`,
    /// else the embedded server.
    #[arg(long = "target", value_name = "URL", value_parser = parse_target)]
    pub targets: Vec<String>,
    /// The shard whose share of the load to check (I/N).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Scenario file (YAML): its `users.prefix`, `users.count` and `rooms`
    /// name what provisioning created.
    pub scenario: PathBuf,
    /// Target base URL; default: the scenario's first `target.urls`.
    #[arg(long = "target", value_name = "URL", value_parser = parse_target)]
    pub target: Option<String>,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete without asking.
    #[arg(long, short)]
    pub yes: bool,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// `--scrape` and `--scrape-match` (run, capacity).
#[derive(Debug, Clone, Default, Args)]
pub struct ScrapeArgs {
    /// Sample the target's Prometheus metrics at this URL once a second
    /// while the load runs (repeatable, one per host:port): Rocket.Chat with
    /// Prometheus_Enabled on :9458 (compose) or :9100 (Helm chart), node
    /// exporter on :9100; `/metrics` when the URL has no path. Server CPU,
    /// event-loop lag, DDP sessions, messages, REST and method timings and
    /// host CPU and memory go into each interval line (`target`) and
    /// summary.json (`target_metrics`), and beside the progress. A failed
    /// scrape is counted and noted, never fatal.
    #[arg(long = "scrape", value_name = "URL", value_parser = parse_scrape_url)]
    pub urls: Vec<ScrapeUrl>,
    /// With --scrape: also keep the series whose sample name matches this
    /// regular expression (repeatable), e.g. `^rocketchat_meteor_subscriptions`
    /// or `_bucket$`; at most 2000 series per source are kept.
    #[arg(long = "scrape-match", value_name = "REGEX", requires = "urls",
          value_parser = parse_scrape_match)]
    pub matches: Vec<regex::Regex>,
}

fn parse_scrape_url(s: &str) -> Result<ScrapeUrl, String> {
    ScrapeUrl::parse(s)
}

fn parse_scrape_match(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| format!("`{s}` is not a regular expression: {e}"))
}

/// The longest wait for a final scrape after a run.
const MAX_LINGER: Duration = Duration::from_secs(600);

fn parse_linger(s: &str) -> Result<Duration, String> {
    capped_duration(s, MAX_LINGER, "a linger")
}

/// The most repetitions one `run --repeat` makes.
pub const MAX_REPEAT: u32 = 1000;
/// The longest cool-down between repetitions.
const MAX_COOLDOWN: Duration = Duration::from_secs(3600);

fn parse_cooldown(s: &str) -> Result<Duration, String> {
    capped_duration(s, MAX_COOLDOWN, "a cool-down")
}

/// A duration up to `cap`; `what` names it in the error.
fn capped_duration(s: &str, cap: Duration, what: &str) -> Result<Duration, String> {
    let d = crate::scenario::duration::parse_duration(s)?;
    if d > cap {
        return Err(format!(
            "{what} of {s} is over the cap of {}",
            humantime::format_duration(cap)
        ));
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario file (YAML).
    pub scenario: PathBuf,
}

/// The variable a Kubernetes Indexed Job sets in each pod: its index, 0-based.
const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    shard_of(s, std::env::var(JOB_INDEX_VAR).ok().as_deref())
}

/// `I/N`, or `auto/N` with I one past `job_index` (an Indexed Job's pod
/// index), so a manifest needs no shell to add one.
fn shard_of(s: &str, job_index: Option<&str>) -> Result<(u32, u32), String> {
    let err = || format!("invalid shard `{s}`: expected I/N with 1 <= I <= N, e.g. 2/4, or auto/N");
    let (i, n) = s.split_once('/').ok_or_else(err)?;
    let n: u32 = n.trim().parse().map_err(|_| err())?;
    let i: u32 = if i.trim() == "auto" {
        let index = job_index.ok_or_else(|| {
            format!("`{s}` takes the shard from {JOB_INDEX_VAR} (set by a Kubernetes Indexed Job), which is not set")
        })?;
        let index: u32 = index.trim().parse().map_err(|_| {
            format!("`{s}`: {JOB_INDEX_VAR}=`{index}` is not a pod index (0, 1, ...)")
        })?;
        if index >= n {
            return Err(format!(
                "`{s}`: {JOB_INDEX_VAR}={index} is not below N={n} (completions and the shard count differ)"
            ));
        }
        index + 1
    } else {
        i.trim().parse().map_err(|_| err())?
    };
    if i == 0 || n == 0 || i > n {
        return Err(err());
    }
    Ok((i, n))
}

fn parse_run_duration(s: &str) -> Result<Duration, String> {
    let d = crate::scenario::duration::parse_duration(s)?;
    if d.is_zero() {
        return Err("a run needs a duration above zero".into());
    }
    if d > crate::scenario::MAX_RUN {
        return Err(format!(
            "{s} is beyond the run cap of {} (split a longer soak into runs)",
            humantime::format_duration(crate::scenario::MAX_RUN)
        ));
    }
    Ok(d)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}`: expected arrivals per second above 0, e.g. 25 or 0.5"
        )),
    }
}

fn parse_target(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{s}`: expected an http:// or https:// base URL, e.g. http://127.0.0.1:3000"
        ));
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// How far in the past a --start-at may be (clock skew between shards).
const START_AT_SLACK: Duration = Duration::from_secs(1);

fn parse_start_at(s: &str) -> Result<SystemTime, String> {
    let at = humantime::parse_rfc3339_weak(s).map_err(|e| format!("`{s}`: {e}"))?;
    match SystemTime::now().duration_since(at) {
        Ok(past) if past > START_AT_SLACK => Err(format!(
            "`{s}` is {:.0} s in the past: shards would not start together",
            past.as_secs_f64()
        )),
        _ => Ok(at),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of instance 0; instance i listens on the base port + i.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Number of instances: each one a single-threaded event loop on its own
    /// OS thread and port, sharing one store and fan-out bus.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Serve Prometheus metrics on this address (path /metrics).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// CPU cost per operation kind, burned on the instance's thread, e.g.
    /// `sendMessage=300us,login=2ms,default=50us`. Kinds: a REST endpoint
    /// after /api/v1/ (`login`, `chat.postMessage`, `info` for /api/info;
    /// `method.call/x` costs `method.call` then `x`), a DDP method name
    /// (`login`, `sendMessage`, `stream-notify-room`), `sub:<publication>`,
    /// and `default` for every other.
    #[arg(long, value_name = "KIND=DURATION,...")]
    pub cost: Option<String>,
    /// Users to create at start: <prefix>1..<prefix>N.
    #[arg(long, default_value_t = 0)]
    pub seed_users: u32,
    /// Public channels to create at start: <room-prefix>1..<room-prefix>M.
    #[arg(long, default_value_t = 0)]
    pub seed_rooms: u32,
    /// Members per seeded room (users assigned round-robin).
    #[arg(long, default_value_t = 0)]
    pub members_per_room: u32,
    /// Password of every seeded user.
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Username prefix of seeded users.
    #[arg(long, default_value = "load-")]
    pub user_prefix: String,
    /// Name prefix of seeded rooms.
    #[arg(long, default_value = "load-room-")]
    pub room_prefix: String,
    /// Admin username (printed at start).
    #[arg(long, default_value = "admin")]
    pub admin_user: String,
    /// Admin password (printed at start).
    #[arg(long, default_value = "admin")]
    pub admin_password: String,
    /// Enable Rocket.Chat's REST and DDP rate limiters (off by default, as
    /// with TEST_MODE).
    #[arg(long)]
    pub rate_limits: bool,
    /// Close self-registration (`users.register` refused, as Rocket.Chat's
    /// `Accounts_RegistrationForm: Disabled`).
    #[arg(long)]
    pub no_registration: bool,
    /// REST error shapes of this Rocket.Chat major version.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(7..=8))]
    pub api_version: u8,
    /// Largest websocket frame accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_frame_bytes: usize,
    /// Per-connection send buffer; a slower consumer is disconnected (1013).
    #[arg(long, default_value_t = 4 << 20)]
    pub max_send_buffer_bytes: usize,
    /// Allow listening on non-loopback addresses.
    #[arg(long)]
    pub public: bool,
}

/// Where the results of a run go, shared by commands that write runs.
#[derive(Debug, Args)]
pub struct OutArgs {
    /// Results directory (default results/runs/<UTC time>-<scenario name>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `rocketload report RUN... [-o FILE] [--format F] [--intervals]`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories or summary.json files. A run directory without
    /// summary.json (the run was killed) is re-totalled from run.json and
    /// intervals.jsonl and reported as partial. Several runs are rendered
    /// one after another (JSON: an array; CSV: a leading `run` column;
    /// JUnit: one testsuite each; HTML: overlaid on the same charts and
    /// compared, the first as the base). For HTML, a directory holding
    /// capacity.json or scaling.json (no run of its own) adds the charts
    /// of that capacity search or scaling experiment.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Output file; `-` or none: stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format; default: from the -o extension (.txt, .json, .csv,
    /// .xml, .md, .html), else text. `html`: one self-contained page (inline
    /// CSS and SVG charts, no script, nothing fetched): verdict,
    /// fingerprint, notes, latency over time and by percentile, load,
    /// errors, deliveries, the generator's self-check, the target's
    /// scraped metrics.
    #[arg(long, value_enum)]
    pub format: Option<crate::results::export::Format>,
    /// CSV: one row per metric per interval, from each run directory's
    /// intervals.jsonl (CSV only).
    #[arg(long)]
    pub intervals: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
With 3 or more runs a side (a folder of run directories, as `run --repeat N` writes): a \
Mann-Whitney U test on the per-run values and a bootstrap CI of the change of the medians. \
With one run a side: a moving-block bootstrap over the per-second histograms of the measured \
phase. A finding needs p < 0.05 after Holm-Bonferroni over every comparison and its whole 95 % \
CI beyond the effect floor.\n\n\
Exit codes: 0 no regression beyond --fail-on-regression (or no gate), 1 one was found, \
2 bad input (a missing or unreadable run, a folder without runs, a candidate that is the base, \
different scenarios without --force), 74 the output could not be written.")]
pub struct CompareArgs {
    /// The base: a run directory, a summary.json, or a folder of run
    /// directories (repetitions of one setup).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// One or more candidates, each like BASE; each gets its own column.
    #[arg(required = true, value_name = "CANDIDATE")]
    pub candidates: Vec<PathBuf>,
    /// Exit 1 when a significant regression beyond this is found: `10%`
    /// for every metric, `message.e2e=10%` or `rest.*=20%` for some
    /// (repeatable; the most specific limit applies). A significant rise
    /// of the error rate fails whenever a limit applies.
    #[arg(long, value_name = "PCT|METRIC=PCT", value_parser = crate::compare::gate::parse_gate)]
    pub fail_on_regression: Vec<crate::compare::gate::GateSpec>,
    /// The smallest change that counts: a change must exceed both parts
    /// (`5%,0.5ms`; the ms part applies to latency only).
    #[arg(long, value_name = "PCT,MS", default_value = "5%,0.5ms", value_parser = parse_min_effect)]
    pub min_effect: crate::compare::MinEffect,
    /// text (a terminal table; colour on a terminal unless NO_COLOR), md
    /// (GitHub-flavoured Markdown for a PR comment) or json (schema in
    /// results/README.md).
    #[arg(long, value_enum, default_value = "text")]
    pub format: CompareFormat,
    /// Output file; `-` or none: stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Compare runs of different scenarios (the fingerprint still lists
    /// the difference).
    #[arg(long)]
    pub force: bool,
}

/// `rocketload merge RUN... -o OUT [--force]`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 merged and every merged threshold holds; 1 a merged \
    threshold failed (a sharded CI job gates on the merge, not on its shards); 2 bad input \
    (a file that is not a run, a corrupt histogram, different scenarios or seeds, the same run \
    or shard twice; the file is named); 74 the output could not be written."
)]
pub struct MergeArgs {
    /// Run directories or summary.json files of the shards; a run directory
    /// without summary.json (the shard was killed) is re-totalled from
    /// run.json and intervals.jsonl, and the merge is marked partial. A
    /// directory holding run directories stands for all of them.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The merged run's directory (summary.json, intervals.jsonl, run.json);
    /// it must not hold a run yet.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// Merge runs of different scenarios or seeds, and write into an OUT
    /// that already holds a run.
    #[arg(long)]
    pub force: bool,
}

/// `rocketload capacity SCENARIO --slo EXPR... [...]`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Scenario file (YAML); its `capacity:` block gives defaults.
    pub scenario: PathBuf,
    /// Target base URL, one per instance (repeatable); default: the
    /// scenario's `target.urls`, else the embedded server.
    #[arg(long = "target", value_name = "URL", value_parser = parse_target)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// The target's Prometheus endpoints, sampled during every step: each
    /// step records the server's CPU and event-loop lag of its held phase.
    #[command(flatten)]
    pub scrape: ScrapeArgs,
    /// Where capacity.json and steps/NN-LOAD/ (one run directory per step)
    /// go [default: results/capacity/<UTC time>-<scenario name>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Hold the capacity against Rocket.Chat's published hardware table for
    /// the target host's size (--host-cores/--host-memory, or this host's
    /// fingerprint when the target is the embedded server or on loopback).
    #[arg(long)]
    pub sizing: bool,
    /// Cores of the Rocket.Chat host, for --sizing.
    #[arg(long, value_name = "N", requires = "sizing", value_parser = parse_cores)]
    pub host_cores: Option<f64>,
    /// Memory of the Rocket.Chat host, for --sizing: e.g. 2GB, 4GiB, 512MB.
    #[arg(long, value_name = "SIZE", requires = "sizing", value_parser = parse_size)]
    pub host_memory: Option<u64>,
    /// Fit a model to the steps' throughput (closed model): `usl`, the
    /// Universal Scalability Law; printed as a model, never as the capacity.
    #[arg(long, value_enum)]
    pub fit: Option<FitModel>,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Users and rooms already exist: skip provisioning.
    #[arg(long)]
    pub skip_provision: bool,
    /// No progress display (the step table is still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

/// The SLOs and the search's shape, shared by `capacity` and `scaling
/// --capacity`; each defaults to the scenario's `capacity:` block.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// An objective every step must hold (repeatable; adds to the
    /// scenario's `capacity.slo`): `message.e2e p95<500ms`, `rest.* p99<1s`
    /// (`*` matches any run of characters), `errors<1%`,
    /// `message.lost<0.1%`, `rest.login errors<1%`.
    #[arg(long = "slo", value_name = "EXPR", value_parser = crate::scenario::Slo::parse)]
    pub slos: Vec<crate::scenario::Slo>,
    /// The first load tried: VUs (closed model) or arrivals/s (open)
    /// [default: 10].
    #[arg(long, value_parser = parse_load)]
    pub min: Option<f64>,
    /// The highest load tried [default: closed model: users.count; the open
    /// model needs it].
    #[arg(long, value_parser = parse_load)]
    pub max: Option<f64>,
    /// How long each step is measured after it settles [default: 30s].
    #[arg(long, value_parser = parse_run_duration)]
    pub hold: Option<Duration>,
    /// How long each step runs before it is measured (logins, warm-up;
    /// discarded) [default: 10s].
    #[arg(long, value_parser = crate::scenario::duration::parse_duration)]
    pub settle: Option<Duration>,
    /// Stop bisecting when the bracket is this narrow, relative to its
    /// lower end [default: 5%].
    #[arg(long, value_parser = crate::scenario::duration::parse_ratio)]
    pub resolution: Option<f64>,
    /// Measure each boundary load this many more times [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub repeats: Option<u32>,
}

/// `rocketload scaling SCENARIO (--local 1,2,4 | --set NAME=URL,...)`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("shapes").required(true).args(["local", "sets"])))]
pub struct ScalingArgs {
    /// Scenario file (YAML); the same seeded workload runs against every set.
    pub scenario: PathBuf,
    /// Embedded server instance counts to compare, e.g. 1,2,4 (the
    /// scenario's `server:` cost model applies to each).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', conflicts_with = "sets",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub local: Vec<u32>,
    /// A named external deployment, one URL per instance (repeatable):
    /// `--set 1proc=http://h:3000 --set 4proc=http://h:3000,http://h:3001,...`,
    /// or `--set vm=... --set container=...`.
    #[arg(long = "set", value_name = "NAME=URL[,URL...]", value_parser = parse_set)]
    pub sets: Vec<(String, Vec<String>)>,
    /// Search each set's capacity under the SLOs instead of measuring it at
    /// one load.
    #[arg(long)]
    pub capacity: bool,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Fixed load (closed model): VUs [default: the scenario's peak].
    #[arg(long, conflicts_with = "capacity", value_parser = clap::value_parser!(u32).range(1..))]
    pub vus: Option<u32>,
    /// Fixed load (open model): arrivals/s [default: the scenario's peak].
    #[arg(long, conflicts_with = "capacity", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Restart one instance of each set this long into each run (after the
    /// settle phase starts counting) and measure the recovery: time until
    /// /api/info answers, until every dropped session resumed, the login
    /// storm, messages lost. `--local`: instance 0 of the embedded server
    /// drops its sessions, keeps its state and answers 502 for
    /// --restart-down; `--set`: --restart-cmd runs.
    #[arg(long, value_name = "DURATION", conflicts_with = "capacity",
          value_parser = crate::scenario::duration::parse_duration)]
    pub restart_after: Option<Duration>,
    /// With --local: how long the restarted instance stays down (the
    /// time a Rocket.Chat process takes to start).
    #[arg(long, value_name = "DURATION", default_value = "2s", requires = "restart_after",
          value_parser = parse_cooldown)]
    pub restart_down: Duration,
    /// With --set: the command that restarts one instance, run by `sh -c`
    /// (e.g. `docker restart rc1`); it should return once the instance is
    /// restarting, and the first URL of the set is probed until it answers.
    #[arg(
        long,
        value_name = "CMD",
        requires = "restart_after",
        conflicts_with = "local"
    )]
    pub restart_cmd: Option<String>,
    /// Measure every set this many times, in an interleaved order
    /// (A B C, C B A, ...), 1..=20.
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    /// Where scaling.json and SET/ROUND/ (a run, or a search) go
    /// [default: results/scaling/<UTC time>-<scenario name>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Users and rooms already exist on every set: skip provisioning.
    #[arg(long)]
    pub skip_provision: bool,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `NAME=URL[,URL...]`: a set's name (letters, digits, `-`, `_`, `.`; it
/// names a directory) and its instance URLs.
fn parse_set(s: &str) -> Result<(String, Vec<String>), String> {
    let Some((name, urls)) = s.split_once('=') else {
        return Err(format!(
            "`{s}`: expected NAME=URL[,URL...], e.g. 4proc=http://127.0.0.1:3000,http://127.0.0.1:3001"
        ));
    };
    let name = name.trim();
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{s}`: a set name is letters, digits, `-`, `_` or `.` (it names a directory)"
        ));
    }
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(parse_target)
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err(format!("`{s}`: set `{name}` has no URL"));
    }
    Ok((name.to_string(), urls))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FitModel {
    Usl,
}

fn parse_load(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 10_000_000.0 => Ok(v),
        _ => Err(format!(
            "`{s}`: expected a load above 0 (VUs or arrivals/s), e.g. 50"
        )),
    }
}

fn parse_cores(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 4096.0 => Ok(v),
        _ => Err(format!("`{s}`: expected a number of cores, e.g. 2 or 0.5")),
    }
}

/// `2GB`, `2 GiB`, `512MB`, `1.5G`, a bare number of bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0f64.powi(4),
        _ => return Err(format!("`{s}`: unknown unit (use MB, GB, MiB, GiB, ...)")),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * scale < 1e18 => Ok((v * scale) as u64),
        _ => Err(format!("`{s}`: expected a size such as 2GB or 4GiB")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Text,
    Md,
    Json,
}

/// `5%,0.5ms`, `10%`, `1ms`: the parts given replace the defaults.
fn parse_min_effect(s: &str) -> Result<crate::compare::MinEffect, String> {
    let mut effect = crate::compare::MinEffect::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("`{part}`: expected a percentage (5%) or milliseconds (0.5ms)");
        let (digits, is_pct) = if let Some(d) = part.strip_suffix('%') {
            (d, true)
        } else if let Some(d) = part.strip_suffix("ms") {
            (d, false)
        } else {
            return Err(bad());
        };
        let v: f64 = digits.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("`{part}`: must be 0 or more"));
        }
        if is_pct {
            effect.pct = v;
        } else {
            effect.ms = v;
        }
    }
    Ok(effect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// docs/serve.md is the user's reference of `serve`: a flag added
    /// here must be documented there.
    #[test]
    fn every_serve_flag_is_in_docs_serve_md() {
        let doc = include_str!("../docs/serve.md");
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").expect("serve subcommand");
        let missing: Vec<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "help")
            .map(|l| format!("--{l}"))
            .filter(|flag| !doc.contains(&format!("`{flag}")))
            .collect();
        assert!(missing.is_empty(), "not in docs/serve.md: {missing:?}");
    }

    #[test]
    fn min_effect_parsing() {
        let e = parse_min_effect("10%,1ms").unwrap();
        assert_eq!((e.pct, e.ms), (10.0, 1.0));
        let e = parse_min_effect("2%").unwrap();
        assert_eq!((e.pct, e.ms), (2.0, 0.5));
        assert!(parse_min_effect("5").is_err());
        assert!(parse_min_effect("-1%").is_err());
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
        assert!(parse_shard("x").is_err());
        // An Indexed Job's pod index is 0-based, shards are 1-based.
        assert_eq!(shard_of("auto/4", Some("0")), Ok((1, 4)));
        assert_eq!(shard_of("auto/4", Some("3")), Ok((4, 4)));
        let unset = shard_of("auto/4", None).unwrap_err();
        assert!(unset.contains("JOB_COMPLETION_INDEX"), "{unset}");
        assert!(
            shard_of("auto/4", Some("4"))
                .unwrap_err()
                .contains("not below N=4")
        );
        assert!(shard_of("auto/4", Some("-1")).is_err());
    }

    #[test]
    fn run_flags_are_typed() {
        assert!(parse_run_duration("0s").is_err());
        assert!(parse_run_duration("8d").is_err());
        assert_eq!(parse_run_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("NaN").is_err());
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        assert!(parse_target("ftp://x").is_err());
        assert!(parse_target("localhost:3000").is_err());
        assert_eq!(
            parse_target("http://127.0.0.1:3000/"),
            Ok("http://127.0.0.1:3000".into())
        );
        assert_eq!(parse_cooldown("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_cooldown("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_cooldown("2h").is_err());
        assert!(parse_cooldown("-1s").is_err());
        assert!(parse_start_at("2020-01-01T00:00:00Z").is_err());
        let soon = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(60));
        assert!(parse_start_at(&soon.to_string()).is_ok());
    }

    #[test]
    fn repeat_is_bounded_and_cooldown_needs_it() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["rocketload", "run", "s.yaml"][..], args].concat())
        };
        assert!(parse(&["--repeat", "0"]).is_err());
        assert!(parse(&["--repeat", "1001"]).is_err());
        assert!(parse(&["--repeat", "1000", "--cooldown", "0s"]).is_ok());
        assert!(parse(&["--cooldown", "1s"]).is_err(), "--cooldown alone");
        match parse(&["--repeat", "3"]).map(|c| c.command) {
            Ok(Command::Run(r)) => assert_eq!((r.repeat, r.cooldown), (3, Duration::from_secs(5))),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
