//! Undoing provisioning: the scenario's users and rooms found on the
//! target as the admin, told apart from look-alikes, and deleted.
//!
//! Only what rocketload made is deleted. A user is ours when its e-mail
//! address is at [`EMAIL_DOMAIN`] (provisioning gives every user one); a
//! room when it is not a default room and was created by one of the
//! scenario's users or by the admin doing the cleanup. Anything else that
//! answers to a scenario name is listed as foreign, and then nothing at
//! all is deleted: a prefix that matches someone else's account means the
//! wrong scenario or the wrong server.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream;
use serde_json::Value;

use super::retry::{RetryStats, retrying};
use super::{EMAIL_DOMAIN, ProvisionObserver};
use crate::engine::RunPlan;
use crate::engine::world::room_names;
use crate::rocketchat::{RcError, Rest};

/// A user or room that exists on the target.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub name: String,
    pub id: String,
}

/// A look-alike: named like the scenario's, not made by rocketload.
#[derive(Clone, Debug, PartialEq)]
pub struct Foreign {
    pub name: String,
    pub why: String,
}

/// What cleanup would delete, and what it must not.
#[derive(Debug, Default)]
pub struct Survey {
    pub users: Vec<Found>,
    pub rooms: Vec<Found>,
    pub foreign: Vec<Foreign>,
    /// Names looked up (users, rooms).
    pub looked_up: (usize, usize),
}

impl Survey {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.rooms.is_empty()
    }
}

/// What deleting did.
#[derive(Debug, Default)]
pub struct Deleted {
    pub users: usize,
    pub rooms: usize,
    /// Name and error of each deletion that failed.
    pub failed: Vec<(String, RcError)>,
}

/// Looks up every user and room the scenario names (all shards').
pub async fn survey(
    plan: &RunPlan,
    admin: &Rest,
    observer: &dyn ProvisionObserver,
) -> Result<Survey, RcError> {
    let users = &plan.scenario.users;
    let stats = RetryStats::default();
    let concurrency = users.concurrency.max(1);
    let admin_name = admin
        .session()
        .map(|s| s.username.clone())
        .unwrap_or_default();
    let admin_id = admin
        .session()
        .map(|s| s.user_id.clone())
        .unwrap_or_default();
    let names: Vec<String> = (1..=users.count)
        .map(|n| format!("{}{n}", users.prefix))
        .collect();
    let looked: Vec<Result<(String, Option<Value>), RcError>> = stream::iter(&names)
        .map(|name| {
            let stats = &stats;
            async move {
                let what = format!("users.info of `{name}`");
                let user = retrying(&what, observer, stats, || admin.users_info(name)).await?;
                Ok((name.clone(), user))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut survey = Survey::default();
    for r in looked {
        let (name, user) = r?;
        let Some(user) = user else { continue };
        let id = user
            .get("_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let emails: Vec<&str> = user
            .get("emails")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get("address")?.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let ours = emails.iter().any(|e| {
            e.to_ascii_lowercase()
                .ends_with(&format!("@{EMAIL_DOMAIN}"))
        });
        if ours && !id.is_empty() {
            survey.users.push(Found { name, id });
        } else {
            let why = match emails.first() {
                Some(e) => format!("its e-mail `{e}` is not at {EMAIL_DOMAIN}"),
                None => {
                    "its e-mail cannot be seen (the admin needs view-full-other-user-info)".into()
                }
            };
            survey.foreign.push(Foreign { name, why });
        }
    }
    let rooms = room_names(plan);
    let ours_by: Vec<&str> = names.iter().map(String::as_str).collect();
    for name in &rooms {
        let what = format!("channels.info of `{name}`");
        let Some(room) = retrying(&what, observer, &stats, || admin.channel(name)).await? else {
            continue;
        };
        let id = room
            .get("_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let creator = room
            .pointer("/u/username")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let creator_id = room
            .pointer("/u/_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let by_us = ours_by.contains(&creator)
            || (!admin_id.is_empty() && creator_id == admin_id)
            || (!admin_name.is_empty() && creator == admin_name);
        let default = room
            .get("default")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if by_us && !default && !id.is_empty() {
            survey.rooms.push(Found {
                name: name.clone(),
                id,
            });
        } else {
            let why = if default {
                "it is a default room".to_string()
            } else {
                format!("it was created by `{creator}`, neither a load user nor this admin")
            };
            survey.foreign.push(Foreign {
                name: name.clone(),
                why,
            });
        }
    }
    survey.users.sort_by(|a, b| natural(&a.name, &b.name));
    survey.foreign.sort_by(|a, b| natural(&a.name, &b.name));
    survey.looked_up = (names.len(), rooms.len());
    Ok(survey)
}

/// `load-2` before `load-10`.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| {
        let digits = s.len() - s.bytes().rev().take_while(u8::is_ascii_digit).count();
        (
            s[..digits].to_string(),
            s[digits..].parse::<u64>().unwrap_or(0),
        )
    };
    split(a).cmp(&split(b))
}

/// Deletes the surveyed rooms, then users (never anything foreign).
pub async fn delete(
    survey: &Survey,
    admin: &Rest,
    concurrency: usize,
    observer: &dyn ProvisionObserver,
) -> Deleted {
    let batch = Batch {
        stats: RetryStats::default(),
        total: (survey.users.len() + survey.rooms.len()) as u64,
        done: AtomicU64::new(0),
        concurrency: concurrency.max(1),
        observer,
    };
    let mut out = Deleted::default();
    let (rooms, failed) = batch
        .run("channels.delete", &survey.rooms, |id| {
            admin.channels_delete(id)
        })
        .await;
    out.rooms = rooms;
    out.failed.extend(failed);
    let (users, failed) = batch
        .run("users.delete", &survey.users, |id| admin.users_delete(id))
        .await;
    out.users = users;
    out.failed.extend(failed);
    out
}

/// Deletions sharing one progress count and one retry policy.
struct Batch<'a> {
    stats: RetryStats,
    total: u64,
    done: AtomicU64,
    concurrency: usize,
    observer: &'a dyn ProvisionObserver,
}

impl Batch<'_> {
    /// `call(id)` for each of `found`, retried; the count deleted and the
    /// failures by name.
    async fn run<'f, F, Fut>(
        &self,
        route: &str,
        found: &'f [Found],
        call: F,
    ) -> (usize, Vec<(String, RcError)>)
    where
        F: Fn(&'f str) -> Fut,
        Fut: std::future::Future<Output = Result<(), RcError>>,
    {
        let results: Vec<(String, Result<(), RcError>)> = stream::iter(found)
            .map(|f| {
                let call = &call;
                async move {
                    let what = format!("{route} of `{}`", f.name);
                    let r = retrying(&what, self.observer, &self.stats, || call(&f.id)).await;
                    let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
                    self.observer.progress(n, self.total);
                    (f.name.clone(), r)
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut deleted = 0;
        let mut failed = Vec::new();
        for (name, r) in results {
            match r {
                Ok(()) => deleted += 1,
                Err(e) => failed.push((name, e)),
            }
        }
        (deleted, failed)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_sort_by_their_number() {
        let mut v = vec!["load-10", "load-2", "load-1", "x"];
        v.sort_by(|a, b| super::natural(a, b));
        assert_eq!(v, ["load-1", "load-2", "load-10", "x"]);
    }
}
