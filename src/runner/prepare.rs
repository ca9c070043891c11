//! Before anything is measured: the request resolved into a plan (pure,
//! no network), then the target made ready once (embedded server started
//! or the given one checked, users and rooms provisioned).

use std::path::PathBuf;
use std::time::Duration;

use super::configure::Configured;
use super::error::{Phase, RunError};
use super::interrupt::Interrupt;
use crate::engine::{self, Admin, Overrides, ProvisionObserver, ProvisionReport, RunPlan, World};
use crate::preflight::{self, Preflight};
use crate::results::{PreflightFinding, Provisioning, TargetInfo};
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
    /// The admin's password from this file's first line (else the
    /// environment: [`Admin::from_env`]).
    pub admin_password_file: Option<PathBuf>,
    /// Run although the preflight says the load will meet rate limits.
    pub accept_rate_limits: bool,
    /// Skip TLS certificate checks, over the scenario's `target.insecure`.
    pub insecure: bool,
    /// Switch the target's rate limiters off for the run, as the admin,
    /// and put them back after ([`Configured`]).
    pub configure_target: bool,
}

/// What preparing a target tells the operator: the preflight's findings,
/// then provisioning's progress and retries.
pub trait PrepareObserver: ProvisionObserver {
    fn preflight(&self, report: &Preflight);
}

impl PrepareObserver for () {
    fn preflight(&self, _: &Preflight) {}
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
    /// Who provisions, when an admin is given (the embedded server's own).
    pub admin: Option<Admin>,
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
        let mut scenario = loaded.scenario;
        if request.insecure {
            scenario
                .target
                .get_or_insert_with(Default::default)
                .insecure = true;
        }
        if scenario.target.as_ref().is_some_and(|t| t.insecure) {
            warnings.push(
                "warning: TLS certificates are not checked (--insecure or `target.insecure`): use this for a staging server only".into(),
            );
        }
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
        let admin = match &target {
            Target::Embedded => {
                let cfg = ServerConfig::embedded();
                Some(Admin::Password {
                    username: cfg.admin_user,
                    password: cfg.admin_password,
                })
            }
            Target::Urls(_) => Admin::from_env(
                &|k| std::env::var(k).ok(),
                request.admin_password_file.as_deref(),
                scenario.users.admin.as_ref().map(|a| a.username.as_str()),
            )
            .map_err(RunError::Plan)?,
        };
        if request.configure_target {
            if request.shard.is_some() {
                return Err(RunError::Plan(
                    "--configure-target does not combine with --shard: each shard would put the limiters back when it ends, under the others; switch them off once for all shards (OVERWRITE_SETTING_API_Enable_Rate_Limiter=false and the DDP_Rate_Limit_*_Enabled settings, or Administration > Settings > Rate Limiter)".into(),
                ));
            }
            if admin.is_none() {
                return Err(RunError::Plan(format!(
                    "--configure-target changes the target's settings as its admin: {}",
                    engine::admin::how_to_give()
                )));
            }
        }
        if scenario.users.provision == Provision::Create
            && admin.is_none()
            && !request.skip_provision
        {
            return Err(RunError::Plan(format!(
                "`users.provision: create` needs the target's admin: {}",
                engine::admin::how_to_give()
            )));
        }
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
            admin,
        })
    }

    /// The highest number of VUs the plan may hold at once.
    pub fn peak_vus(&self) -> u64 {
        match self.plan.scenario.load.model {
            Model::Closed => self.plan.profile().peak().ceil() as u64,
            Model::Open => u64::from(self.plan.max_vus()),
        }
    }

    /// Starts the embedded server or checks the target, switches its
    /// limiters off if asked, runs the preflight (stopping on a blocking
    /// finding unless the request accepts rate limits), then provisions.
    /// `interrupt` (Ctrl-C) ends it with [`RunError::Interrupted`]; on
    /// that and on every error, switched limiters are put back first.
    pub async fn prepare(
        self,
        observer: &dyn PrepareObserver,
        interrupt: Option<&Interrupt>,
    ) -> Result<Prepared, RunError> {
        let mut configured = None;
        let work = self.prepare_steps(observer, &mut configured);
        let result = match interrupt {
            Some(i) => tokio::select! {
                r = work => r,
                () = i.fired() => Err(RunError::Interrupted {
                    during: Phase::Preparing,
                    dir: None,
                }),
            },
            None => work.await,
        };
        match result {
            Ok(mut prepared) => {
                prepared.configured = configured;
                Ok(prepared)
            }
            Err(e) => {
                if let Some(c) = configured {
                    c.restore().await;
                }
                Err(e)
            }
        }
    }

    /// [`Planned::prepare`]'s steps; the switches it turns off are put in
    /// `configured` at once, so that an interruption still knows them.
    async fn prepare_steps(
        self,
        observer: &dyn PrepareObserver,
        configured: &mut Option<Configured>,
    ) -> Result<Prepared, RunError> {
        let Planned {
            request,
            scenario,
            scenario_sha256,
            target,
            mut plan,
            mut warnings,
            admin,
        } = self;
        let server = start_if_embedded(&target, &scenario, request.instances, &mut plan)?;
        let infos = engine::check_target(&plan).await?;
        let clock = match plan.shard {
            Some(_) => clock_offset(&plan, &mut warnings).await,
            None => None,
        };
        let mut target = TargetInfo::of(&infos, server.is_some());
        if request.configure_target
            && let (Some(url), Some(admin)) = (plan.targets.first(), admin.as_ref())
        {
            let c = Configured::limiters_off(url, &plan.client_of(0), admin).await?;
            let note = c.describe();
            eprintln!("{note}");
            warnings.push(note);
            target.configured = c.settings();
            *configured = Some(c);
        }
        let preflight = preflight::check(&plan, &target, admin.as_ref()).await;
        observer.preflight(&preflight);
        target.preflight = preflight
            .findings
            .iter()
            .map(|f| PreflightFinding {
                level: f.level.as_str().into(),
                topic: f.topic.into(),
                message: f.message.clone(),
            })
            .collect();
        if preflight.blocks() && !request.accept_rate_limits {
            if let Some(s) = server {
                s.shutdown();
            }
            return Err(RunError::Preflight(Box::new(preflight)));
        }
        let provisioned = engine::provision(&plan, admin.as_ref(), observer).await?;
        target.provisioning = Some(provisioning_info(&provisioned.report));
        let world = provisioned.world;
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
            configured: None,
        })
    }
}

impl Planned {
    /// The preflight alone (`rocketload check`): the target checked and
    /// asked, nothing provisioned; the embedded server, if it is the
    /// target, started and stopped again.
    pub async fn check(self) -> Result<Preflight, RunError> {
        let Planned {
            request,
            scenario,
            target,
            mut plan,
            admin,
            ..
        } = self;
        let server = start_if_embedded(&target, &scenario, request.instances, &mut plan)?;
        let infos = engine::check_target(&plan).await?;
        let info = TargetInfo::of(&infos, server.is_some());
        let report = preflight::check(&plan, &info, admin.as_ref()).await;
        if let Some(s) = server {
            s.shutdown();
        }
        Ok(report)
    }
}

/// The embedded server when it is the target, its URLs put in the plan.
fn start_if_embedded(
    target: &Target,
    scenario: &Scenario,
    instances: Option<usize>,
    plan: &mut RunPlan,
) -> Result<Option<Server>, RunError> {
    match target {
        Target::Embedded => {
            let s = start_embedded(scenario, instances).map_err(RunError::Embedded)?;
            plan.targets = s.urls().to_vec();
            Ok(Some(s))
        }
        Target::Urls(_) => Ok(None),
    }
}

fn provisioning_info(r: &ProvisionReport) -> Provisioning {
    Provisioning {
        by: r.by.into(),
        users_created: r.users_created,
        users_reused: r.users_reused,
        rooms_created: r.rooms_created,
        rooms_reused: r.rooms_reused,
        memberships: r.memberships,
        rate_limited_retries: r.retries.rate_limited,
        failed_retries: r.retries.failed,
        waited_s: r.retries.waited_ms as f64 / 1000.0,
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
    /// The target's switches `--configure-target` turned off.
    configured: Option<Configured>,
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

    /// Puts back what `--configure-target` changed, then stops the
    /// embedded server, if one runs.
    pub async fn finish(self) {
        if let Some(c) = self.configured {
            c.restore().await;
        }
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
