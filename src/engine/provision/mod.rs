//! Before the measured phase: check the target answers, create (or find)
//! the scenario's users and rooms and the memberships. Idempotent: users
//! or rooms that already exist are reused, so a second run against the
//! same server works. Its timings are not measured.
//!
//! Two ways, picked by whether an admin is given:
//! - **as the admin** (recommended on a real server): `users.create`, or
//!   `users.info` for a user that exists, then each room created with its
//!   members or, when it exists, `channels.invite` of them. The admin's
//!   role bypasses Rocket.Chat's REST limiter by default, and no load user
//!   logs in: the login route is limited per client IP before anyone is
//!   known, so 500 logins from one host take 50 minutes at the default.
//! - **as the users** (`register`, or `none` without an admin): each user
//!   registers if asked, logs in over REST and joins its rooms itself.
//!
//! Every call is retried on 429 and on server errors ([`retry`]).

pub mod cleanup;
mod retry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::stream;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::admin::{self, Admin};
use super::error::EngineError;
use super::plan::RunPlan;
use super::rooms::lookup_room;
use super::world::{World, members_per_room, memberships, room_names, shard_memberships};
use crate::rocketchat::{RcError, Rest};
use crate::scenario::Provision;
pub use retry::Retries;
use retry::{RetryStats, retrying};

/// What one target instance says about itself in `GET /api/info`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub url: String,
    /// `version` as the server reports it (without the patch level unless
    /// the caller may view statistics).
    pub version: String,
    /// `supportedVersions`: Rocket.Chat's signed list of supported releases
    /// (a JWT), when the server sends one.
    pub supported_versions: Option<String>,
}

/// What provisioning tells the operator while it works.
pub trait ProvisionObserver: Sync {
    /// `done` of `total` units (users, rooms, memberships).
    fn progress(&self, done: u64, total: u64);
    /// `what` failed (`why`) and is tried again after `wait`.
    fn retry(&self, what: &str, why: &str, wait: Duration);
}

/// Observes nothing (tests, callers without a display).
impl ProvisionObserver for () {
    fn progress(&self, _: u64, _: u64) {}
    fn retry(&self, _: &str, _: &str, _: Duration) {}
}

/// How provisioning went, for the results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProvisionReport {
    /// `admin`, `users` (each user for itself) or `skipped`.
    pub by: &'static str,
    pub users_created: u64,
    pub users_reused: u64,
    pub rooms_created: u64,
    pub rooms_reused: u64,
    /// Memberships added (joins or invitations; an existing one counts too
    /// when the server cannot tell).
    pub memberships: u64,
    pub retries: Retries,
}

/// The world the VUs act on, and how it was made.
pub struct Provisioned {
    pub world: World,
    pub report: ProvisionReport,
}

/// GET /api/info on every target URL: each must answer like Rocket.Chat.
pub async fn check_target(plan: &RunPlan) -> Result<Vec<ServerInfo>, EngineError> {
    if plan.targets.is_empty() {
        return Err(EngineError::NoTarget);
    }
    let mut out = Vec::with_capacity(plan.targets.len());
    let unreachable = |url: &str, e| EngineError::Unreachable {
        url: url.to_string(),
        source: Box::new(e),
    };
    for url in &plan.targets {
        // From the first source address, as provisioning's first calls.
        let rest = Rest::new(url, &plan.client_of(0)).map_err(|e| unreachable(url, e))?;
        let info = rest.info().await.map_err(|e| unreachable(url, e))?;
        let Some(version) = info.get("version").and_then(Value::as_str) else {
            return Err(EngineError::NotRocketChat {
                url: url.clone(),
                message: "GET /api/info has no `version`".into(),
            });
        };
        out.push(ServerInfo {
            url: url.clone(),
            version: version.to_string(),
            supported_versions: info
                .get("supportedVersions")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    Ok(out)
}

/// The e-mail address of a provisioned user. Its domain marks the
/// accounts rocketload made, which is what `cleanup` deletes.
pub fn email_of(username: &str) -> String {
    format!("{username}@{EMAIL_DOMAIN}")
}

/// See [`email_of`].
pub const EMAIL_DOMAIN: &str = "rocketload.example.com";

/// One provisioning: the plan, the admin if any, and what it counts.
struct Work<'a> {
    plan: &'a RunPlan,
    url: &'a str,
    observer: &'a dyn ProvisionObserver,
    stats: RetryStats,
    done: AtomicU64,
    total: u64,
}

impl Work<'_> {
    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.observer.progress(done, self.total);
    }

    async fn retry<T, F, Fut>(&self, what: &str, call: F) -> Result<T, RcError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RcError>>,
    {
        retrying(what, self.observer, &self.stats, call).await
    }

    /// A REST client for user `n`, from its source address.
    fn rest_for(&self, n: u32) -> Result<Rest, RcError> {
        Rest::new(self.url, &self.plan.client_of(n))
    }
}

/// This shard's users, with the room indexes each belongs to.
struct Shard {
    users: Vec<(u32, Vec<usize>)>,
    rooms: Vec<String>,
}

impl Shard {
    fn of(plan: &RunPlan) -> Shard {
        let users = &plan.scenario.users;
        let rooms = room_names(plan);
        let members = memberships(users.count, rooms.len() as u32, members_per_room(plan));
        let users = plan
            .shard_users()
            .iter()
            .map(|n| {
                let mine = (0..members.len())
                    .filter(|&r| members[r].contains(n))
                    .collect();
                (*n, mine)
            })
            .collect();
        Shard { users, rooms }
    }

    /// This shard's members of room `r`.
    fn members_of(&self, r: usize) -> impl Iterator<Item = u32> + '_ {
        self.users
            .iter()
            .filter(move |(_, rooms)| rooms.contains(&r))
            .map(|(n, _)| *n)
    }
}

/// Users, rooms and memberships, as the admin when one is given.
pub async fn provision(
    plan: &RunPlan,
    admin: Option<&Admin>,
    observer: &dyn ProvisionObserver,
) -> Result<Provisioned, EngineError> {
    if plan.skip_provision {
        return Ok(Provisioned {
            world: World::from_names(plan),
            report: ProvisionReport {
                by: "skipped",
                ..ProvisionReport::default()
            },
        });
    }
    let users = &plan.scenario.users;
    if users.provision == Provision::Create && admin.is_none() {
        return Err(EngineError::ProvisionCheck(format!(
            "`users.provision: create` needs the admin: {}",
            admin::how_to_give()
        )));
    }
    let shard = Shard::of(plan);
    // Register: each user for itself; create and none: the admin if given.
    let admin = admin.filter(|_| users.provision != Provision::Register);
    let mut total = (shard.users.len() + shard.rooms.len()) as u64;
    if admin.is_none() {
        total += shard_memberships(plan);
    }
    let work = Work {
        plan,
        url: plan.targets.first().ok_or(EngineError::NoTarget)?.as_str(),
        observer,
        stats: RetryStats::default(),
        done: AtomicU64::new(0),
        total,
    };
    let (mut report, world) = match admin {
        Some(admin) => by_admin(&work, &shard, admin).await?,
        None => by_users(&work, &shard).await?,
    };
    report.retries = work.stats.read();
    Ok(Provisioned { world, report })
}

fn failed(what: String, e: RcError) -> EngineError {
    EngineError::Provision {
        what,
        source: Box::new(e),
    }
}

/// The admin creates or finds every user and room and adds the members.
async fn by_admin(
    work: &Work<'_>,
    shard: &Shard,
    admin: &Admin,
) -> Result<(ProvisionReport, World), EngineError> {
    let plan = work.plan;
    let users = &plan.scenario.users;
    let client = plan.client_of(0);
    let rest = work
        .retry(&format!("login of the admin `{}`", admin.who()), || {
            admin.session(work.url, &client)
        })
        .await
        .map_err(|e| failed(format!("admin login as `{}`", admin.who()), e))?;
    let concurrency = users.concurrency.max(1);
    let create = users.provision == Provision::Create;

    // Users: created, or found when they exist; their ids either way.
    let found: Vec<(u32, String, bool)> = stream::iter(&shard.users)
        .map(|(n, _)| {
            let (rest, n) = (&rest, *n);
            async move {
                let r = admin_user(work, rest, &format!("{}{n}", users.prefix), create).await;
                work.tick();
                r.map(|(id, created)| (n, id, created))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let users_created = found.iter().filter(|(_, _, c)| *c).count() as u64;
    let user_ids: HashMap<u32, String> = found.into_iter().map(|(n, id, _)| (n, id)).collect();

    // Rooms: created with this shard's members, or found and invited to.
    let rooms: Vec<(String, String, bool, u64)> = stream::iter(shard.rooms.iter().enumerate())
        .map(|(r, name)| {
            let (rest, user_ids) = (&rest, &user_ids);
            async move {
                let members: Vec<u32> = shard.members_of(r).collect();
                let result = admin_room(work, rest, name, &members, user_ids).await;
                work.tick();
                result.map(|(id, created)| (name.clone(), id, created, members.len() as u64))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let report = ProvisionReport {
        by: "admin",
        users_created,
        users_reused: user_ids.len() as u64 - users_created,
        rooms_created: rooms.iter().filter(|r| r.2).count() as u64,
        rooms_reused: rooms.iter().filter(|r| !r.2).count() as u64,
        memberships: rooms.iter().map(|r| r.3).sum(),
        retries: Retries::default(),
    };
    let room_ids = rooms
        .into_iter()
        .map(|(name, id, _, _)| (name, id))
        .collect();
    Ok((report, World::build(plan, room_ids, user_ids)))
}

/// The id of user `name`, and whether this call created it.
async fn admin_user(
    work: &Work<'_>,
    rest: &Rest,
    name: &str,
    create: bool,
) -> Result<(String, bool), EngineError> {
    let users = &work.plan.scenario.users;
    let id_of = |user: &Value, what: &str| {
        user.get("_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                failed(
                    what.to_string(),
                    RcError::Protocol("the answer has no user._id".into()),
                )
            })
    };
    let mut refused = None;
    if create {
        let what = format!("users.create of `{name}`");
        let email = email_of(name);
        match work
            .retry(&what, || {
                rest.users_create(name, &email, &users.password, name)
            })
            .await
        {
            Ok(user) => return id_of(&user, &what).map(|id| (id, true)),
            // Taken (by an earlier run, or by hand): look it up.
            Err(
                e @ RcError::Http {
                    status: 400 | 403, ..
                },
            ) => refused = Some((what, e)),
            Err(e) => return Err(failed(what, e)),
        }
    }
    let what = format!("users.info of `{name}`");
    match work.retry(&what, || rest.users_info(name)).await {
        Ok(Some(user)) => id_of(&user, &what).map(|id| (id, false)),
        Ok(None) => Err(match refused {
            Some((what, e)) => failed(what, e),
            None => EngineError::ProvisionCheck(format!(
                "user `{name}` does not exist on the target (`users.provision: none` expects it): create the users first, or use `provision: create`"
            )),
        }),
        Err(e) => Err(failed(what, e)),
    }
}

/// The id of room `name` with `members` in it, and whether it was created.
async fn admin_room(
    work: &Work<'_>,
    rest: &Rest,
    name: &str,
    members: &[u32],
    user_ids: &HashMap<u32, String>,
) -> Result<(String, bool), EngineError> {
    let prefix = &work.plan.scenario.users.prefix;
    let names: Vec<String> = members.iter().map(|n| format!("{prefix}{n}")).collect();
    let ids: Vec<String> = members
        .iter()
        .filter_map(|n| user_ids.get(n).cloned())
        .collect();
    let info = format!("channels.info of `{name}`");
    if let Some(id) = work
        .retry(&info, || rest.channels_info(name))
        .await
        .map_err(|e| failed(info.clone(), e))?
    {
        invite(work, rest, name, &id, &ids).await?;
        return Ok((id, false));
    }
    let what = format!("channels.create of `{name}`");
    match work
        .retry(&what, || rest.channels_create(name, &names))
        .await
    {
        Ok(id) => Ok((id, true)),
        // Another shard created it first: join its members to it.
        Err(RcError::Http { status: 400, .. }) => {
            let id = work
                .retry(&info, || rest.channels_info(name))
                .await
                .map_err(|e| failed(info.clone(), e))?
                .ok_or_else(|| {
                    EngineError::ProvisionCheck(format!(
                        "room `{name}` can neither be created nor found"
                    ))
                })?;
            invite(work, rest, name, &id, &ids).await?;
            Ok((id, false))
        }
        Err(e) => Err(failed(what, e)),
    }
}

async fn invite(
    work: &Work<'_>,
    rest: &Rest,
    name: &str,
    rid: &str,
    ids: &[String],
) -> Result<(), EngineError> {
    if ids.is_empty() {
        return Ok(());
    }
    let what = format!("channels.invite to `{name}`");
    work.retry(&what, || rest.channels_invite(rid, ids))
        .await
        .map_err(|e| failed(what, e))
}

/// Each user registers (if asked), logs in and joins its rooms.
async fn by_users(work: &Work<'_>, shard: &Shard) -> Result<(ProvisionReport, World), EngineError> {
    let plan = work.plan;
    let users = &plan.scenario.users;
    let concurrency = users.concurrency.max(1);
    let register = users.provision == Provision::Register;

    let logged_in: Vec<(u32, Rest, bool)> = stream::iter(&shard.users)
        .map(|(n, _)| {
            let n = *n;
            async move {
                let r = user_session(work, n, register).await;
                work.tick();
                r.map(|(rest, created)| (n, rest, created))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let users_created = logged_in.iter().filter(|(_, _, c)| *c).count() as u64;
    let clients: HashMap<u32, Rest> = logged_in.into_iter().map(|(n, r, _)| (n, r)).collect();
    let user_ids: HashMap<u32, String> = clients
        .iter()
        .filter_map(|(n, r)| Some((*n, r.session()?.user_id.clone())))
        .collect();

    // Rooms: found by name, else created by this shard's first user.
    let mut room_ids: HashMap<String, String> = HashMap::new();
    let mut rooms_created = 0;
    if let Some(creator) = shard.users.first().and_then(|(n, _)| clients.get(n)) {
        let found: Vec<(String, Option<String>, bool)> = stream::iter(&shard.rooms)
            .map(|name| async move {
                let r = find_or_create_room(work, creator, name).await;
                work.tick();
                r.map(|(id, created)| (name.clone(), id, created))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        for (name, id, created) in found {
            rooms_created += u64::from(created);
            if let Some(id) = id {
                room_ids.insert(name, id);
            }
        }
    } else if !shard.rooms.is_empty() {
        return Err(EngineError::ProvisionCheck(
            "rooms need a creator: give the admin or at least one user in this shard".into(),
        ));
    }

    // Memberships: each member joins its rooms (joining twice is harmless).
    let jobs: Vec<(u32, &str)> = shard
        .users
        .iter()
        .flat_map(|(n, rooms)| rooms.iter().map(|r| (*n, shard.rooms[*r].as_str())))
        .collect();
    let known = &room_ids;
    let joined: Vec<Option<(String, String)>> = stream::iter(jobs)
        .map(|(n, room)| {
            let rest = &clients[&n];
            async move {
                let what = format!("user {}{n} joining room `{room}`", users.prefix);
                let rid = known.get(room).map(String::as_str);
                let r = work.retry(&what, || join(rest, room, rid)).await;
                work.tick();
                r.map_err(|e| failed(what, e))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let joins = shard_memberships(plan);
    for (name, id) in joined.into_iter().flatten() {
        room_ids.insert(name, id);
    }
    let report = ProvisionReport {
        by: "users",
        users_created,
        users_reused: clients.len() as u64 - users_created,
        rooms_created,
        rooms_reused: shard.rooms.len() as u64 - rooms_created,
        memberships: joins,
        retries: Retries::default(),
    };
    Ok((report, World::build(plan, room_ids, user_ids)))
}

/// User `n` logged in on its own client (registered first if asked), and
/// whether it was registered now.
async fn user_session(
    work: &Work<'_>,
    n: u32,
    register: bool,
) -> Result<(Rest, bool), EngineError> {
    let users = &work.plan.scenario.users;
    let name = format!("{}{n}", users.prefix);
    let mut rest = work
        .rest_for(n)
        .map_err(|e| failed(format!("a client for `{name}`"), e))?;
    let registered = if register {
        let what = format!("users.register of `{name}`");
        let email = email_of(&name);
        work.retry(&what, || {
            rest.users_register(&name, &email, &users.password, &name)
        })
        .await
        .map(drop)
    } else {
        Ok(())
    };
    let what = format!("login as `{name}`");
    match work
        .retry(&what, || rest.login(&name, &users.password))
        .await
    {
        Ok(session) => {
            rest.set_session(Some(session));
            Ok((rest, register && registered.is_ok()))
        }
        // A failed register usually means "exists": the login decides.
        Err(login) => Err(failed(
            match registered {
                Err(e) => format!("user `{name}` (registering failed: {e}; then login)"),
                Ok(()) => what,
            },
            login,
        )),
    }
}

/// The id of room `name` (`None` when it exists but this caller cannot
/// see it: its members learn the id on joining), and whether this call
/// created it.
async fn find_or_create_room(
    work: &Work<'_>,
    creator: &Rest,
    name: &str,
) -> Result<(Option<String>, bool), EngineError> {
    let what = format!("room `{name}`");
    let lookup = || async {
        work.retry(&what, || lookup_room(creator, name))
            .await
            .map_err(|e| failed(what.clone(), e))
    };
    if let Some(id) = lookup().await? {
        return Ok((Some(id), false));
    }
    match work
        .retry(&what, || creator.channels_create(name, &[]))
        .await
    {
        Ok(id) => Ok((Some(id), true)),
        // Lost a race with another shard, or invisible to this caller.
        Err(RcError::Http { status: 400, .. }) => Ok((lookup().await?, false)),
        Err(e) => Err(failed(what, e)),
    }
}

/// Joins a room by id, or by name when the id is unknown (Rocket.Chat's
/// `channels.join` takes `roomName` too); returns the id learnt by name.
async fn join(
    rest: &Rest,
    name: &str,
    rid: Option<&str>,
) -> Result<Option<(String, String)>, RcError> {
    if let Some(rid) = rid {
        return rest.channels_join(rid).await.map(|_| None);
    }
    let body = json!({ "roomName": name });
    let v = rest.call_json("POST", "channels.join", Some(&body)).await?;
    match v.pointer("/channel/_id").and_then(Value::as_str) {
        Some(id) => Ok(Some((name.to_owned(), id.to_owned()))),
        None => Err(RcError::Protocol(format!(
            "channels.join of `{name}`: response has no channel._id"
        ))),
    }
}

impl From<RcError> for EngineError {
    fn from(e: RcError) -> EngineError {
        EngineError::Provision {
            what: "HTTP client".into(),
            source: Box::new(e),
        }
    }
}
