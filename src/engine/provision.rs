//! Before the measured phase: check the target answers, create (or find)
//! the scenario's users and rooms and the memberships. Idempotent: users
//! or rooms that already exist are reused, so a second run against the
//! same server works. Its timings are not measured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream;
use serde_json::{Value, json};

use super::error::EngineError;
use super::plan::RunPlan;
use super::rooms::lookup_room;
use super::world::{World, members_per_room, memberships, room_names};
use crate::rocketchat::{RcError, Rest, Session};
use crate::scenario::Provision;

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

/// GET /api/info on every target URL: each must answer like Rocket.Chat.
pub async fn check_target(plan: &RunPlan) -> Result<Vec<ServerInfo>, EngineError> {
    if plan.targets.is_empty() {
        return Err(EngineError::NoTarget);
    }
    let mut out = Vec::with_capacity(plan.targets.len());
    for url in &plan.targets {
        let rest = Rest::new(url, &plan.client).map_err(|e| EngineError::Unreachable {
            url: url.clone(),
            source: e,
        })?;
        let info = rest.info().await.map_err(|e| EngineError::Unreachable {
            url: url.clone(),
            source: e,
        })?;
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

fn email_of(username: &str) -> String {
    format!("{username}@rocketload.example.com")
}

/// Logs a user in on its own REST client.
async fn session_for(
    url: &str,
    plan: &RunPlan,
    user: &str,
    pass: &str,
) -> Result<(Rest, Session), RcError> {
    let mut rest = Rest::new(url, &plan.client)?;
    let s = rest.login(user, pass).await?;
    rest.set_session(Some(s.clone()));
    Ok((rest, s))
}

/// Users, rooms and memberships; `progress(done, total)` after each unit.
pub async fn provision(plan: &RunPlan, progress: &dyn Fn(u64, u64)) -> Result<World, EngineError> {
    if plan.skip_provision {
        return Ok(World::from_names(plan));
    }
    let sc = &plan.scenario;
    let users = &sc.users;
    let url = plan.targets.first().ok_or(EngineError::NoTarget)?.as_str();
    let shard_users = plan.shard_users();
    let names = room_names(plan);
    let members = memberships(users.count, names.len() as u32, members_per_room(plan));
    let mine: Vec<(u32, Vec<usize>)> = shard_users
        .iter()
        .map(|n| {
            let rooms = members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.contains(n))
                .map(|(r, _)| r)
                .collect();
            (*n, rooms)
        })
        .collect();
    let joins: u64 = mine.iter().map(|(_, r)| r.len() as u64).sum();
    let total = shard_users.len() as u64 + names.len() as u64 + joins;
    let done = AtomicU64::new(0);
    let tick = || progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
    let concurrency = users.concurrency.max(1);

    let admin = match &users.admin {
        Some(a) => Some(
            session_for(url, plan, &a.username, &a.password)
                .await
                .map_err(|e| EngineError::Provision {
                    what: format!("admin login as `{}`", a.username),
                    source: e,
                })?,
        ),
        None if users.provision == Provision::Create => {
            return Err(EngineError::ProvisionCheck(
                "`users.provision: create` needs `users.admin` credentials".into(),
            ));
        }
        None => None,
    };

    // Users: register / create (existing ones are reused), then log in.
    let logged_in: Vec<Result<(u32, Rest, Session), EngineError>> =
        stream::iter(shard_users.iter().copied())
            .map(|n| {
                let admin = admin.as_ref().map(|(r, _)| r);
                let tick = &tick;
                async move {
                    let name = format!("{}{n}", users.prefix);
                    let created = match users.provision {
                        Provision::Register => Rest::new(url, &plan.client)?
                            .users_register(&name, &email_of(&name), &users.password, &name)
                            .await
                            .map(drop),
                        Provision::Create => match admin {
                            Some(a) => a
                                .users_create(&name, &email_of(&name), &users.password, &name)
                                .await
                                .map(drop),
                            None => Ok(()),
                        },
                        Provision::None => Ok(()),
                    };
                    // A failed register/create usually means "already exists":
                    // the login decides.
                    let r = match session_for(url, plan, &name, &users.password).await {
                        Ok((rest, s)) => Ok((n, rest, s)),
                        Err(login) => Err(EngineError::Provision {
                            what: match created {
                                Err(e) => {
                                    format!("user `{name}` (creating it failed: {e}; then login)")
                                }
                                Ok(()) => format!("login as user `{name}`"),
                            },
                            source: login,
                        }),
                    };
                    tick();
                    r
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let mut clients: HashMap<u32, (Rest, Session)> = HashMap::new();
    for r in logged_in {
        let (n, rest, s) = r?;
        clients.insert(n, (rest, s));
    }
    let user_ids: HashMap<u32, String> = clients
        .iter()
        .map(|(n, (_, s))| (*n, s.user_id.clone()))
        .collect();

    // Rooms: reuse by name, else create (by the admin or a user of this shard).
    let creator: Option<&Rest> = admin.as_ref().map(|(r, _)| r).or_else(|| {
        shard_users
            .first()
            .and_then(|n| clients.get(n))
            .map(|(r, _)| r)
    });
    let mut room_ids: HashMap<String, String> = HashMap::new();
    if !names.is_empty() {
        let Some(creator) = creator else {
            return Err(EngineError::ProvisionCheck(
                "rooms need a creator: give `users.admin` or at least one user in this shard"
                    .into(),
            ));
        };
        let found: Vec<Result<(String, Option<String>), EngineError>> = stream::iter(names.iter())
            .map(|name| {
                let tick = &tick;
                async move {
                    let r = find_or_create_room(creator, name)
                        .await
                        .map(|id| (name.clone(), id));
                    tick();
                    r
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for r in found {
            if let (name, Some(id)) = r? {
                room_ids.insert(name, id);
            }
        }
    }

    // Memberships: each member joins its rooms (joining twice is harmless).
    let names_ref = &names;
    let jobs: Vec<(u32, String)> = mine
        .iter()
        .flat_map(|(n, rooms)| rooms.iter().map(move |r| (*n, names_ref[*r].clone())))
        .collect();
    let joined: Vec<Result<Option<(String, String)>, EngineError>> = stream::iter(jobs.iter())
        .map(|(n, room)| {
            let tick = &tick;
            let client = clients.get(n).map(|(r, _)| r);
            let rid = room_ids.get(room).cloned();
            async move {
                let r =
                    match client {
                        Some(rest) => join(rest, room, rid.as_deref()).await.map_err(|e| {
                            EngineError::Provision {
                                what: format!("user {}{n} joining room `{room}`", users.prefix),
                                source: e,
                            }
                        }),
                        None => Ok(None),
                    };
                tick();
                r
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in joined {
        if let Some((name, id)) = r? {
            room_ids.insert(name, id);
        }
    }
    Ok(World::build(plan, room_ids, user_ids))
}

/// The id of room `name`: found by name, else created. `None` when it
/// exists but this caller cannot see it (another shard created it and the
/// target has no `channels.info`): its members learn the id on joining.
async fn find_or_create_room(creator: &Rest, name: &str) -> Result<Option<String>, EngineError> {
    let err = |e| EngineError::Provision {
        what: format!("room `{name}`"),
        source: e,
    };
    if let Some(id) = lookup_room(creator, name).await.map_err(err)? {
        return Ok(Some(id));
    }
    match creator.channels_create(name, &[]).await {
        Ok(id) => Ok(Some(id)),
        // Lost a race with another shard, or invisible to this caller.
        Err(RcError::Http { status: 400, .. }) => lookup_room(creator, name).await.map_err(err),
        Err(e) => Err(err(e)),
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
            source: e,
        }
    }
}
