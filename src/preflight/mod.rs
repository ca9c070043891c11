//! Before any load: what the target allows against what the plan needs.
//! A default Rocket.Chat limits every REST route to 10 calls a minute per
//! client IP and `users.register` to 1, and its DDP limiter is on too, so
//! a first run that ignores them fails within seconds (the limiter answers
//! 429 to every user but the first few). The preflight finds out, with a
//! handful of calls far below any limit:
//! - `GET /api/v1/settings.public?_id=Accounts_RegistrationForm` without a
//!   login: whether registration is open, and from its `X-RateLimit-*`
//!   headers whether the REST limiter is on and at what limit;
//! - the admin's login and `GET me`: whether its credentials work and
//!   whether its calls skip the limiter (no headers on the answer);
//! - when the load would not fit, one load user's login and `me`: whether
//!   the load users' role skips it.
//!
//! The DDP limiter cannot be seen from outside: with an admin, its
//! switches are read through the settings API (`GET settings/:_id`, which
//! needs `view-privileged-setting`); otherwise Rocket.Chat's defaults (all
//! on) are assumed. Either way the plan's calls per connection are held
//! against the rules that are on.
//! `rocketload check` prints the findings; `run` stops on a blocking one
//! unless `--accept-rate-limits`.

pub mod needs;

use std::fmt::Write as _;

use serde_json::Value;

use crate::engine::admin::how_to_give;
use crate::engine::{Admin, RunPlan};
use crate::results::TargetInfo;
use crate::rocketchat::settings::DDP_LIMITERS;
use crate::rocketchat::{RcError, Rest};
use crate::scenario::Provision;
use needs::Needs;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    /// The run cannot work this way: it stops before any load.
    Block,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Block => "block",
        }
    }
}

/// One thing the preflight saw, and what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub level: Level,
    /// `version`, `registration`, `rest limiter`, `admin`, `ddp limiter`.
    pub topic: &'static str,
    pub message: String,
    /// What the message sums up, a line each.
    pub details: Vec<String>,
    pub fixes: Vec<String>,
}

/// Every finding about one target.
#[derive(Clone, Debug, PartialEq)]
pub struct Preflight {
    pub url: String,
    pub findings: Vec<Finding>,
}

impl Preflight {
    pub fn blocks(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Block)
    }

    /// The findings as the terminal shows them.
    pub fn render(&self) -> String {
        let mut out = format!("preflight against {}:\n", self.url);
        for f in &self.findings {
            let _ = writeln!(out, "  {:<5} {}: {}", f.level.as_str(), f.topic, f.message);
            for detail in &f.details {
                let _ = writeln!(out, "          {detail}");
            }
            for fix in &f.fixes {
                let _ = writeln!(out, "        -> {fix}");
            }
        }
        out
    }
}

/// The limiter's fixes, in the order an operator tries them.
const DISABLE_REST: &str = "disable the REST limiter for the test window: --configure-target switches it off as the admin and puts it back after the run; or start Rocket.Chat with OVERWRITE_SETTING_API_Enable_Rate_Limiter=false (or Administration > Settings > Rate Limiter), and restore it afterwards";
const BYPASS_USERS: &str = "or give the load users' role the permission `api-bypass-rate-limit` (Administration > Permissions)";
const ACCEPT: &str =
    "or run anyway with --accept-rate-limits: the 429s are then measured and counted apart";
const DISABLE_DDP: &str = "switch DDP_Rate_Limit_Connection_By_Method_Enabled and DDP_Rate_Limit_User_By_Method_Enabled off for the test window: --configure-target does it as the admin and puts them back; or start Rocket.Chat with OVERWRITE_SETTING_<id>=false (or raise their limits)";

/// Rocket.Chat's `Rate_Limiter_Limit_RegisterUser`: a route with its own
/// rule, one registration a minute per IP.
const REGISTER_PER_MINUTE: f64 = 1.0;
/// The REST limiter's window this reckons with (Rocket.Chat's default
/// `API_Enable_Rate_Limiter_Limit_Time_Default`; the headers give the
/// count, not the window).
const WINDOW_MINUTES: f64 = 1.0;

/// What the DDP limiter allows one connection (one VU: one user) to call
/// `method` per 10 s under `switches` (ROCKETCHAT.md §1.11): 10 per
/// connection and method, else 20 per user and method; streams get four
/// times the calls in four times the window (the same rate). `sendMessage`
/// has its own rule, 5 a second per user, and `login` Meteor's 5 per 10 s
/// per connection, neither with a switch. None: no rule limits it.
fn ddp_limit_per_10s(method: &str, switches: DdpSwitches) -> Option<f64> {
    match method {
        "sendMessage" => Some(50.0),
        "login" => Some(5.0),
        _ if switches.connection_by_method => Some(10.0),
        _ if switches.user_by_method => Some(20.0),
        _ => None,
    }
}

/// What the target answered to the probes.
struct Seen {
    /// `X-RateLimit-Limit` of an unauthenticated call; `None`: no limiter.
    rest_limit: Option<u64>,
    registration: Option<String>,
    admin: Option<Result<AdminSeen, RcError>>,
}

struct AdminSeen {
    roles: Vec<String>,
    bypasses: bool,
    /// The DDP limiter's switches, when the admin may read settings.
    ddp: Option<DdpSwitches>,
}

/// Which of the DDP limiter's default rules are on ([`DDP_LIMITERS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DdpSwitches {
    user_by_method: bool,
    connection_by_method: bool,
    /// How many of the five are on.
    on: usize,
}

impl DdpSwitches {
    /// Rocket.Chat's defaults.
    const DEFAULT: DdpSwitches = DdpSwitches {
        user_by_method: true,
        connection_by_method: true,
        on: DDP_LIMITERS.len(),
    };
}

/// Asks the target (the plan's first URL) and judges the plan against it.
pub async fn check(plan: &RunPlan, target: &TargetInfo, admin: Option<&Admin>) -> Preflight {
    let url = plan.targets.first().cloned().unwrap_or_default();
    let client = plan.client_of(0);
    let seen = probe(&url, &client, admin).await;
    let needs = needs::of(plan);
    let mut findings = vec![version(target)];
    findings.extend(registration(plan, &seen));
    let users_bypass = match seen.rest_limit {
        // Only asked when the load would not fit otherwise (a login costs
        // one of the route's calls).
        Some(limit) if !fits(plan, &needs, limit) => user_bypasses(plan, &url).await,
        _ => None,
    };
    findings.extend(admin_finding(admin, &seen));
    findings.extend(rest_limiter(plan, admin, &seen, &needs, users_bypass));
    let ddp = match &seen.admin {
        Some(Ok(a)) => a.ddp,
        _ => None,
    };
    findings.extend(ddp_limiter(&needs, ddp));
    Preflight { url, findings }
}

async fn probe(url: &str, client: &crate::rocketchat::ClientConfig, admin: Option<&Admin>) -> Seen {
    let mut seen = Seen {
        rest_limit: None,
        registration: None,
        admin: None,
    };
    if let Ok(rest) = Rest::new(url, client) {
        let path = "settings.public?_id=Accounts_RegistrationForm";
        if let Ok(resp) = rest.request("GET", path, None, &[], false).await {
            seen.rest_limit = resp.rate.map(|r| r.limit);
            seen.registration = resp
                .json()
                .pointer("/settings/0/value")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    if let Some(admin) = admin {
        seen.admin = Some(admin_seen(url, client, admin).await);
    }
    seen
}

async fn admin_seen(
    url: &str,
    client: &crate::rocketchat::ClientConfig,
    admin: &Admin,
) -> Result<AdminSeen, RcError> {
    let rest = admin.session(url, client).await?;
    let resp = rest.request("GET", "me", None, &[], true).await?;
    let me = resp.json();
    if resp.status != 200 {
        return Err(RcError::Http {
            status: resp.status,
            endpoint: "me".into(),
            error: None,
            body: me.to_string(),
            reset_ms: resp.rate.map(|r| r.reset_ms),
        });
    }
    let roles = me
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(AdminSeen {
        roles,
        bypasses: resp.rate.is_none(),
        ddp: ddp_switches(&rest).await,
    })
}

/// The DDP switches as the admin reads them; None if any cannot be read.
async fn ddp_switches(rest: &Rest) -> Option<DdpSwitches> {
    let mut on = Vec::with_capacity(DDP_LIMITERS.len());
    for id in DDP_LIMITERS {
        on.push(rest.setting(id).await.ok()?.as_bool()?);
    }
    let is_on = |suffix: &str| {
        DDP_LIMITERS
            .iter()
            .zip(&on)
            .any(|(id, on)| *on && id.ends_with(suffix))
    };
    Some(DdpSwitches {
        user_by_method: is_on("_User_By_Method_Enabled"),
        connection_by_method: is_on("_Connection_By_Method_Enabled"),
        on: on.iter().filter(|o| **o).count(),
    })
}

/// Whether load user 1 (if it exists) calls without the limiter.
async fn user_bypasses(plan: &RunPlan, url: &str) -> Option<bool> {
    let users = &plan.scenario.users;
    let mut rest = Rest::new(url, &plan.client_of(0)).ok()?;
    let session = rest
        .login(&format!("{}1", users.prefix), &users.password)
        .await
        .ok()?;
    rest.set_session(Some(session));
    let resp = rest.request("GET", "me", None, &[], true).await.ok()?;
    (resp.status == 200).then_some(resp.rate.is_none())
}

fn version(target: &TargetInfo) -> Finding {
    let v = target.rocketchat_version.as_deref().unwrap_or("unknown");
    let until = target
        .supported_until
        .as_deref()
        .map(|u| format!(" (supported until {u})"))
        .unwrap_or_default();
    match target.version_supported {
        Some(false) => Finding {
            level: Level::Warn,
            topic: "version",
            message: format!("Rocket.Chat {v} is no longer supported{until}"),
            details: Vec::new(),
            fixes: vec!["measure the release you will run in production".into()],
        },
        Some(true) => Finding {
            level: Level::Ok,
            topic: "version",
            message: format!("Rocket.Chat {v}, supported{until}"),
            details: Vec::new(),
            fixes: Vec::new(),
        },
        None => Finding {
            level: Level::Ok,
            topic: "version",
            message: format!("Rocket.Chat {v} (the server lists no supported versions)"),
            details: Vec::new(),
            fixes: Vec::new(),
        },
    }
}

fn registration(plan: &RunPlan, seen: &Seen) -> Option<Finding> {
    if plan.scenario.users.provision != Provision::Register || plan.skip_provision {
        return None;
    }
    let give_admin = format!(
        "use `users.provision: create` and give the admin ({})",
        how_to_give()
    );
    Some(match seen.registration.as_deref() {
        Some("Public") => Finding {
            level: Level::Ok,
            topic: "registration",
            message: "open (`provision: register` can create the users)".into(),
            details: Vec::new(),
            fixes: Vec::new(),
        },
        Some(other) => Finding {
            level: Level::Block,
            topic: "registration",
            message: format!(
                "Accounts_RegistrationForm is `{other}`: `provision: register` cannot create the users"
            ),
            details: Vec::new(),
            fixes: vec![give_admin],
        },
        None => Finding {
            level: Level::Warn,
            topic: "registration",
            message: "the server does not say whether registration is open".into(),
            details: Vec::new(),
            fixes: vec![give_admin],
        },
    })
}

fn admin_finding(admin: Option<&Admin>, seen: &Seen) -> Option<Finding> {
    let admin = admin?;
    let who = admin.who();
    Some(match seen.admin.as_ref()? {
        Err(RcError::Http { status: 401, .. }) => Finding {
            level: Level::Block,
            topic: "admin",
            message: format!(
                "the target refuses the admin `{who}` (401): wrong user, password or token"
            ),
            details: Vec::new(),
            fixes: vec![how_to_give()],
        },
        Err(e) => Finding {
            level: Level::Block,
            topic: "admin",
            message: format!("acting as the admin `{who}` failed: {e}"),
            details: Vec::new(),
            fixes: vec![how_to_give()],
        },
        Ok(a) if !a.roles.iter().any(|r| r == "admin") => Finding {
            level: Level::Warn,
            topic: "admin",
            message: format!(
                "`{who}` has the roles [{}], not `admin`: users.create, channels.invite and users.delete need create-user, add-user-to-any-c-room and delete-user",
                a.roles.join(", ")
            ),
            details: Vec::new(),
            fixes: vec!["give the account the admin role, or those permissions".into()],
        },
        Ok(a) => Finding {
            level: Level::Ok,
            topic: "admin",
            message: format!(
                "`{who}` is an admin; {}",
                if a.bypasses {
                    "its calls skip the REST limiter"
                } else {
                    "its calls are rate limited (its role lacks api-bypass-rate-limit)"
                }
            ),
            details: Vec::new(),
            fixes: Vec::new(),
        },
    })
}

/// Source addresses the limiter tells apart (its key is the client IP).
fn addresses(plan: &RunPlan) -> f64 {
    plan.source_ips.len().max(1) as f64
}

/// Provisioning's calls on limited routes from this host, by route: none
/// by an admin that skips the limiter.
fn provisioning_calls(
    plan: &RunPlan,
    by_admin: bool,
    admin_bypasses: bool,
) -> Vec<(&'static str, f64)> {
    if plan.skip_provision {
        return Vec::new();
    }
    let users = plan.shard_users().len() as f64;
    let rooms = crate::engine::world::room_names(plan).len() as f64;
    if by_admin {
        if admin_bypasses {
            return Vec::new();
        }
        let user_route = match plan.scenario.users.provision {
            Provision::Create => "users.create",
            _ => "users.info",
        };
        return vec![
            (user_route, users),
            ("channels.info", rooms),
            ("channels.invite", rooms),
        ];
    }
    let mut calls = Vec::new();
    if plan.scenario.users.provision == Provision::Register {
        calls.push(("users.register", users));
    }
    calls.push(("login", users));
    calls.push((
        "channels.join",
        crate::engine::world::shard_memberships(plan) as f64,
    ));
    calls
}

fn limit_of(route: &str, limit: u64) -> f64 {
    if route == "users.register" {
        REGISTER_PER_MINUTE
    } else {
        limit as f64
    }
}

/// Whether the load's REST calls fit under `limit` per route and minute.
fn fits(plan: &RunPlan, needs: &Needs, limit: u64) -> bool {
    let per_address = addresses(plan);
    needs
        .rest_per_minute
        .iter()
        .all(|(route, n)| n / per_address <= limit_of(route, limit) / WINDOW_MINUTES)
}

fn rest_limiter(
    plan: &RunPlan,
    admin: Option<&Admin>,
    seen: &Seen,
    needs: &Needs,
    users_bypass: Option<bool>,
) -> Vec<Finding> {
    let Some(limit) = seen.rest_limit else {
        return vec![Finding {
            level: Level::Ok,
            topic: "rest limiter",
            message: "off (an unauthenticated call came back without X-RateLimit headers)".into(),
            details: Vec::new(),
            fixes: Vec::new(),
        }];
    };
    let per_address = addresses(plan);
    let from = if per_address > 1.0 {
        format!("from each of {} source addresses", per_address)
    } else {
        "from this host".into()
    };
    let mut out = vec![Finding {
        level: Level::Ok,
        topic: "rest limiter",
        message: format!("on: {limit} calls per route, minute and client IP (users.register: 1)"),
        details: Vec::new(),
        fixes: Vec::new(),
    }];
    // Provisioning.
    let register = plan.scenario.users.provision == Provision::Register;
    let by_admin = admin.is_some() && !register;
    // An admin that could not be asked has its own blocking finding.
    let admin_bypasses = !matches!(&seen.admin, Some(Ok(a)) if !a.bypasses);
    let mut slow = Vec::new();
    for (route, calls) in provisioning_calls(plan, by_admin, admin_bypasses) {
        let per_ip = (calls / per_address).ceil();
        let minutes = per_ip / limit_of(route, limit) * WINDOW_MINUTES;
        if minutes > 1.0 {
            slow.push(format!(
                "{per_ip:.0} `{route}` calls {from}: about {:.0} minutes",
                minutes.ceil()
            ));
        }
    }
    if !slow.is_empty() {
        let mut fixes = Vec::new();
        if register || admin.is_none() {
            fixes.push(format!(
                "provision as the admin: `users.provision: create`{}; it creates the users and rooms without logging them in, and its role skips the limiter",
                if admin.is_none() {
                    format!(" and {}", how_to_give())
                } else {
                    String::new()
                }
            ));
        } else if !admin_bypasses {
            fixes.push(format!(
                "give the role of `{}` the permission `api-bypass-rate-limit`",
                admin.map(Admin::who).unwrap_or_default()
            ));
        }
        fixes.extend([DISABLE_REST.to_string(), ACCEPT.to_string()]);
        out.push(Finding {
            level: Level::Block,
            topic: "rest limiter",
            message: "provisioning would wait for the limiter:".into(),
            details: slow,
            fixes,
        });
    }
    // The load itself.
    if users_bypass == Some(true) {
        out.push(Finding {
            level: Level::Ok,
            topic: "rest limiter",
            message: format!(
                "the load users' calls skip it (`{}1` has api-bypass-rate-limit)",
                plan.scenario.users.prefix
            ),
            details: Vec::new(),
            fixes: Vec::new(),
        });
        return out;
    }
    let mut over = Vec::new();
    for (route, per_minute) in &needs.rest_per_minute {
        let allowed = limit_of(route, limit) / WINDOW_MINUTES;
        let mine = per_minute / per_address;
        if mine <= allowed {
            continue;
        }
        over.push(if mine.is_infinite() {
            format!(
                "`{route}` without a pause (its steps have no think time), {allowed:.0} allowed"
            )
        } else {
            format!(
                "`{route}` up to {:.0} times a minute {from}, {allowed:.0} allowed",
                mine.ceil()
            )
        });
    }
    if !over.is_empty() {
        let unsure = if users_bypass.is_none() {
            " (whether the load users' role skips it could not be checked: they cannot log in yet)"
        } else {
            ""
        };
        out.push(Finding {
            level: Level::Block,
            topic: "rest limiter",
            message: format!("the load would be refused (429){unsure}:"),
            details: over,
            fixes: vec![DISABLE_REST.into(), BYPASS_USERS.into(), ACCEPT.into()],
        });
    }
    out
}

fn ddp_limiter(needs: &Needs, read: Option<DdpSwitches>) -> Vec<Finding> {
    let switches = read.unwrap_or(DdpSwitches::DEFAULT);
    let state = match read {
        Some(s) => format!(
            "{} of its {} switches on (read as the admin)",
            s.on,
            DDP_LIMITERS.len()
        ),
        None => "on unless changed: Rocket.Chat's defaults, not visible without an admin".into(),
    };
    let mut out = vec![Finding {
        level: Level::Ok,
        topic: "ddp limiter",
        message: state.clone(),
        details: Vec::new(),
        fixes: Vec::new(),
    }];
    out.extend(needs.ddp_per_10s.iter().filter_map(|(method, n)| {
        let limit = ddp_limit_per_10s(method, switches)?;
        if *n <= limit {
            return None;
        }
        let rate = if n.is_infinite() {
            "without a pause".to_string()
        } else {
            format!("about {n:.0} times per 10 s")
        };
        let own_rule = matches!(*method, "sendMessage" | "login");
        Some(Finding {
            level: Level::Warn,
            topic: "ddp limiter",
            message: format!(
                "one connection calls `{method}` {rate}; the DDP limiter ({}) allows {limit:.0}",
                if own_rule {
                    "a rule of its own, with no switch"
                } else {
                    &state
                }
            ),
            details: Vec::new(),
            fixes: vec![if own_rule {
                "give the VUs think time between these calls: this rule cannot be switched off"
                    .into()
            } else {
                DISABLE_DDP.into()
            }],
        })
    }));
    out
}
