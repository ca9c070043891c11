//! Before anything is measured: the request resolved into a plan (pure,
//! no network), then the target made ready once (embedded server started
//! or the given one checked, users and rooms provisioned).

use std::path::PathBuf;
use std::time::Duration;

use super::error::RunError;
use crate::engine::{self, Overrides, RunPlan, World};
use crate::results::TargetInfo;
use crate::rocketchat::clock::{self, OffsetBound};
use crate::scenario::{self, Loaded, Model, Provision, Scenario};
use crate::server::{self, Server, ServerConfig};

/// What the caller asks for, already typed by the command line.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub scenario: PathBuf,
    /// Instance URLs; empty: the scenario's `target.urls`, else the
    /// embedded server.
    pub targets: Vec<String>,
    pub overrides: Overrides,
    pub shard: Option<(u32, u32)>,
    pub skip_provision: bool,
    /// The embedded server's instance count, over the scenario's
    /// `server.instances` (`scaling --local`).
    pub instances: Option<usize>,
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The reference server, started in-process on loopback.
    Embedded,
    Urls(Vec<String>),
}

/// A request resolved against its scenario: everything that can be
/// refused without touching the network has been.
pub struct Planned {
    pub request: RunRequest,
    /// The scenario as loaded (before overrides and sharding).
    pub scenario: Scenario,
    pub scenario_sha256: String,
    pub target: Target,
    /// The plan of the request's own overrides (targets still empty when
    /// the embedded server is the target).
    pub plan: RunPlan,
    /// Configuration warnings as printed (`file:line:col: warning: ...` or
    /// `warning: ...`), also kept as run notes.
    pub warnings: Vec<String>,
}

impl Planned {
    /// Loads the scenario and checks that flags and scenario combine.
    pub fn resolve(request: RunRequest) -> Result<Planned, RunError> {
        let loaded = scenario::load_with_warnings(&request.scenario).map_err(RunError::Scenario)?;
        Planned::from_loaded(request, loaded)
    }

    /// [`Planned::resolve`] with the scenario already loaded (tests, and
    /// callers that build scenarios in code).
    pub fn from_loaded(request: RunRequest, loaded: Loaded) -> Result<Planned, RunError> {
        let mut warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        let scenario = loaded.scenario;
        let target = if !request.targets.is_empty() {
            Target::Urls(request.targets.clone())
        } else if let Some(t) = scenario.target.as_ref().filter(|t| !t.urls.is_empty()) {
            Target::Urls(t.urls.clone())
        } else {
            Target::Embedded
        };
        match &target {
            Target::Embedded if request.skip_provision => {
                return Err(RunError::Plan(
                    "--skip-provision needs a target that already has the users: the embedded server starts empty (give --target URL)".into(),
                ));
            }
            Target::Embedded if scenario.users.provision == Provision::None => {
                return Err(RunError::Plan(
                    "`users.provision: none` expects existing users, but the embedded server starts empty: give --target URL (or a `target:` block), or use `register`".into(),
                ));
            }
            Target::Urls(_) if scenario.server.is_some() => warnings.push(
                "warning: the scenario's `server:` block applies only to the embedded server; ignored with a target"
                    .into(),
            ),
            _ => {}
        }
        let urls = match &target {
            Target::Urls(u) => u.clone(),
            Target::Embedded => Vec::new(),
        };
        let plan = RunPlan::new(
            scenario.clone(),
            urls,
            request.overrides.clone(),
            request.shard,
            request.skip_provision,
        )?;
        Ok(Planned {
            request,
            scenario,
            scenario_sha256: loaded.sha256,
            target,
            plan,
            warnings,
        })
    }

    /// The highest number of VUs the plan may hold at once.
    pub fn peak_vus(&self) -> u64 {
        match self.plan.scenario.load.model {
            Model::Closed => self.plan.profile().peak().ceil() as u64,
            Model::Open => u64::from(self.plan.max_vus()),
        }
    }

    /// Starts the embedded server or checks the target, then provisions.
    /// `progress(done, total)` follows provisioning.
    pub async fn prepare(self, progress: &dyn Fn(u64, u64)) -> Result<Prepared, RunError> {
        let Planned {
            request,
            scenario,
            scenario_sha256,
            target,
            mut plan,
            mut warnings,
        } = self;
        let server = match target {
            Target::Embedded => {
                let s = start_embedded(&scenario, request.instances).map_err(RunError::Embedded)?;
                plan.targets = s.urls().to_vec();
                Some(s)
            }
            Target::Urls(_) => None,
        };
        let infos = engine::check_target(&plan).await?;
        let clock = match plan.shard {
            Some(_) => clock_offset(&plan, &mut warnings).await,
            None => None,
        };
        let world = engine::provision(&plan, progress).await?;
        let target = TargetInfo::of(&infos, server.is_some());
        Ok(Prepared {
            request,
            scenario,
            scenario_sha256,
            seed: plan.seed,
            targets: plan.targets.clone(),
            world,
            server,
            target,
            clock,
            warnings,
        })
    }
}

/// A sharded run's clock against the first target (about a second of
/// requests); a target that cannot tell is a warning, not an error.
async fn clock_offset(plan: &RunPlan, warnings: &mut Vec<String>) -> Option<OffsetBound> {
    let url = plan.targets.first()?;
    match clock::measure_offset(url, &plan.client).await {
        Ok(bound) => Some(bound),
        Err(e) => {
            let w = format!("warning: the clock offset against the target is unknown: {e}");
            eprintln!("{w}");
            warnings.push(w);
            None
        }
    }
}

/// A target made ready once, measured as often as the caller likes.
pub struct Prepared {
    pub request: RunRequest,
    pub scenario: Scenario,
    pub scenario_sha256: String,
    /// Every measurement uses the same seed, so repeated steps make the
    /// same choices.
    pub seed: u64,
    pub targets: Vec<String>,
    pub world: World,
    pub(super) server: Option<Server>,
    pub target: TargetInfo,
    /// Sharded runs: the target's clock against this host's, at the start.
    pub clock: Option<OffsetBound>,
    pub warnings: Vec<String>,
}

impl Prepared {
    /// The plan of one measurement: the request's overrides with `extra`
    /// on top (a field set in `extra` wins), against `targets` (default:
    /// the prepared ones).
    pub fn plan(&self, extra: &Overrides, targets: Option<&[String]>) -> Result<RunPlan, RunError> {
        let base = &self.request.overrides;
        let overrides = Overrides {
            duration: extra.duration.or(base.duration),
            vus: extra.vus.or(base.vus),
            rate: extra.rate.or(base.rate),
        };
        let mut plan = RunPlan::new(
            self.scenario.clone(),
            targets.map_or_else(|| self.targets.clone(), <[String]>::to_vec),
            overrides,
            self.request.shard,
            self.request.skip_provision,
        )?;
        plan.seed = self.seed;
        Ok(plan)
    }

    /// True when the target is the embedded reference server.
    pub fn embedded(&self) -> bool {
        self.server.is_some()
    }

    /// Stops the embedded server, if one runs.
    pub fn shutdown(self) {
        if let Some(s) = self.server {
            s.shutdown();
        }
    }
}

fn start_embedded(scenario: &Scenario, instances: Option<usize>) -> Result<Server, String> {
    let mut cfg = ServerConfig::embedded();
    if let Some(block) = &scenario.server {
        if let Some(n) = block.instances {
            cfg.instances = n;
        }
        if !block.cost.is_empty() {
            let costs = block.cost.iter().map(|(op, c)| (op.as_str(), *c));
            cfg.cost = server::cost::CostModel::from_costs(costs)?;
        }
        cfg.rate_limits = block.rate_limits;
        // Reject a bad fault now rather than in the middle of the run.
        let check = server::faults::Faults::new();
        let count = instances.unwrap_or(cfg.instances);
        for (i, f) in block.faults.iter().enumerate() {
            if let crate::scenario::Fault::Restart { instance, .. } = f.fault
                && instance >= count
            {
                return Err(format!(
                    "server.faults[{i}]: restart of instance {instance}, but the server has {count} (0..={})",
                    count - 1
                ));
            }
            check
                .apply(&f.fault.to_body())
                .map_err(|e| format!("server.faults[{i}]: {e}"))?;
        }
    }
    if let Some(n) = instances {
        cfg.instances = n;
    }
    server::start(cfg).map_err(|e| e.to_string())
}

/// How long a VU task that ignores cancellation may hold the exit.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
