//! What the VUs act on: this shard's users (name, password, rooms) and the
//! room name -> id map. Built by provisioning, or from names alone with
//! `skip_provision` (room ids are then resolved on first use).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::plan::RunPlan;

#[derive(Debug, Clone)]
pub struct User {
    /// 1-based number, as in the name `<prefix><n>`.
    pub number: u32,
    pub username: String,
    pub password: String,
    /// Known after provisioning logged the user in.
    pub user_id: Option<String>,
    /// Names of the rooms the user is a member of.
    pub rooms: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct World {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    users: Vec<User>,
    /// Every room name of the scenario, in order.
    room_names: Vec<String>,
    /// Room name -> id (filled by provisioning or on first use).
    room_ids: RwLock<HashMap<String, String>>,
    /// Member user ids per room name, for presence subscriptions.
    members: HashMap<String, Vec<u32>>,
    /// user number -> user id, for every provisioned user of this shard.
    user_ids: HashMap<u32, String>,
    /// Room id -> member user ids as the server listed them (every shard's
    /// users), fetched once by the first VU that needs them.
    listed_members: RwLock<HashMap<String, Arc<[String]>>>,
}

impl World {
    /// The world as the scenario's names describe it; ids unknown yet.
    pub fn from_names(plan: &RunPlan) -> World {
        World::build(plan, HashMap::new(), HashMap::new())
    }

    /// The world with the ids provisioning found.
    pub fn build(
        plan: &RunPlan,
        room_ids: HashMap<String, String>,
        user_ids: HashMap<u32, String>,
    ) -> World {
        let sc = &plan.scenario;
        let users = &sc.users;
        let room_names = room_names(plan);
        let members = memberships(users.count, room_names.len() as u32, members_per_room(plan));
        let mut by_user: HashMap<u32, Vec<String>> = HashMap::new();
        let mut member_map: HashMap<String, Vec<u32>> = HashMap::new();
        for (r, list) in members.iter().enumerate() {
            for u in list {
                by_user.entry(*u).or_default().push(room_names[r].clone());
            }
            member_map.insert(room_names[r].clone(), list.clone());
        }
        let users = plan
            .shard_users()
            .into_iter()
            .map(|n| User {
                number: n,
                username: format!("{}{n}", users.prefix),
                password: users.password.clone(),
                user_id: user_ids.get(&n).cloned(),
                rooms: by_user.remove(&n).unwrap_or_default(),
            })
            .collect();
        World {
            inner: Arc::new(Inner {
                users,
                room_names,
                room_ids: RwLock::new(room_ids),
                members: member_map,
                user_ids,
                listed_members: RwLock::default(),
            }),
        }
    }

    pub fn users(&self) -> &[User] {
        &self.inner.users
    }

    /// The user VU `vu` acts as (VUs beyond the user count share users).
    pub fn user_for_vu(&self, vu: u32) -> Option<&User> {
        let users = &self.inner.users;
        if users.is_empty() {
            return None;
        }
        users.get(vu as usize % users.len())
    }

    pub fn room_names(&self) -> &[String] {
        &self.inner.room_names
    }

    pub fn room_id(&self, name: &str) -> Option<String> {
        let map = self
            .inner
            .room_ids
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(name).cloned()
    }

    pub fn set_room_id(&self, name: &str, id: &str) {
        let mut map = self
            .inner
            .room_ids
            .write()
            .unwrap_or_else(|e| e.into_inner());
        map.insert(name.to_owned(), id.to_owned());
    }

    /// Member ids of a room as the server listed them, if fetched yet.
    pub fn listed_members(&self, rid: &str) -> Option<Arc<[String]>> {
        let map = self
            .inner
            .listed_members
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(rid).cloned()
    }

    pub fn set_listed_members(&self, rid: &str, ids: Arc<[String]>) {
        let mut map = self
            .inner
            .listed_members
            .write()
            .unwrap_or_else(|e| e.into_inner());
        map.insert(rid.to_owned(), ids);
    }

    /// User ids of the members of a room that this shard provisioned (the
    /// fallback when the server's member list cannot be read).
    pub fn member_ids(&self, room: &str) -> Vec<String> {
        self.inner
            .members
            .get(room)
            .map(|m| {
                m.iter()
                    .filter_map(|n| self.inner.user_ids.get(n).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn room_names(plan: &RunPlan) -> Vec<String> {
    plan.scenario
        .rooms
        .as_ref()
        .map(|r| (1..=r.count).map(|n| format!("{}{n}", r.prefix)).collect())
        .unwrap_or_default()
}

pub(crate) fn members_per_room(plan: &RunPlan) -> u32 {
    plan.scenario
        .rooms
        .as_ref()
        .map_or(0, |r| r.members_per_room)
}

/// Memberships of this shard's users: the joins (or invitations) that
/// provisioning makes.
pub fn shard_memberships(plan: &RunPlan) -> u64 {
    let rooms = room_names(plan).len() as u32;
    let members = memberships(plan.scenario.users.count, rooms, members_per_room(plan));
    let (i, n) = plan.shard.unwrap_or((1, 1));
    members
        .iter()
        .flatten()
        .filter(|u| (**u - 1) % n == i - 1)
        .count() as u64
}

/// Members (user numbers, 1-based) of each room: users are dealt out
/// round-robin, room r getting users r*m+1 .. r*m+m (mod the user count),
/// so every user lands in about rooms*m/users rooms.
pub(crate) fn memberships(users: u32, rooms: u32, per_room: u32) -> Vec<Vec<u32>> {
    if users == 0 {
        return vec![Vec::new(); rooms as usize];
    }
    let per_room = per_room.min(users);
    (0..rooms)
        .map(|r| {
            (0..per_room)
                .map(|j| {
                    ((u64::from(r) * u64::from(per_room) + u64::from(j)) % u64::from(users)) as u32
                        + 1
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_memberships() {
        let m = memberships(10, 4, 5);
        assert_eq!(m[0], vec![1, 2, 3, 4, 5]);
        assert_eq!(m[1], vec![6, 7, 8, 9, 10]);
        assert_eq!(m[2], vec![1, 2, 3, 4, 5]);
        // More members than users: each user once.
        assert_eq!(memberships(3, 1, 10)[0], vec![1, 2, 3]);
        assert!(memberships(0, 2, 3).iter().all(Vec::is_empty));
    }
}
