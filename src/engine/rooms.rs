//! Room selectors of the steps: `random` (a seeded pick among the VU's
//! rooms; becomes the current room), `current` (the last room picked),
//! `joined` (every room of the VU), or a room name template. Names are
//! resolved to ids through the World, asking the server (`channels.info`)
//! the first time a name is unknown. Member lists (for presence) come from
//! the server too.

use std::sync::Arc;

use serde_json::Value;

use super::errors::classify;
use super::vu::{RoomRef, Vu};
use crate::metrics::ErrorClass;
use crate::rocketchat::{RcError, Rest};

pub const JOINED: &str = "joined";
pub const RANDOM: &str = "random";
pub const CURRENT: &str = "current";

impl Vu {
    /// The VU's rooms by name: its memberships, else every scenario room.
    fn own_room_names(&self) -> Vec<String> {
        if self.user.rooms.is_empty() {
            self.ctx.world.room_names().to_vec()
        } else {
            self.user.rooms.clone()
        }
    }

    /// One room for a step; it becomes the current room.
    pub(crate) async fn select_room(&mut self, selector: &str) -> Result<RoomRef, ErrorClass> {
        let name = match selector {
            RANDOM | JOINED | "random_joined" => self.random_room_name()?,
            CURRENT => match &self.current {
                Some(r) => return Ok(r.clone()),
                None => self.random_room_name()?,
            },
            template => self.render(template)?,
        };
        let room = self.resolve(&name).await?;
        self.current = Some(room.clone());
        Ok(room)
    }

    /// [`Vu::select_room`], recording a failure under `metric`.
    pub(crate) async fn room_for(&mut self, selector: &str, metric: &str) -> Option<RoomRef> {
        match self.select_room(selector).await {
            Ok(r) => Some(r),
            Err(c) => {
                self.fail_now(metric, c);
                None
            }
        }
    }

    /// Rooms for a subscription: `joined` = all of the VU's rooms.
    pub(crate) async fn select_rooms(
        &mut self,
        selector: &str,
    ) -> Result<Vec<RoomRef>, ErrorClass> {
        if selector != JOINED {
            return Ok(vec![self.select_room(selector).await?]);
        }
        let mut out = Vec::new();
        for name in self.own_room_names() {
            out.push(self.resolve(&name).await?);
        }
        Ok(out)
    }

    fn random_room_name(&mut self) -> Result<String, ErrorClass> {
        let n = if self.user.rooms.is_empty() {
            self.ctx.world.room_names().len()
        } else {
            self.user.rooms.len()
        };
        if n == 0 {
            self.ctx
                .note("a step selects a room but the scenario has no `rooms`".into());
            return Err(ErrorClass::Other);
        }
        let i = self.pick(n);
        Ok(if self.user.rooms.is_empty() {
            self.ctx.world.room_names()[i].clone()
        } else {
            self.user.rooms[i].clone()
        })
    }

    /// Room name -> id, via the World or the server (then cached).
    pub(crate) async fn resolve(&mut self, name: &str) -> Result<RoomRef, ErrorClass> {
        if let Some(id) = self.ctx.world.room_id(name) {
            return Ok(RoomRef {
                name: name.to_owned(),
                id,
            });
        }
        let found = lookup_room(self.rest()?, name).await;
        match found {
            Ok(Some(id)) => {
                self.ctx.world.set_room_id(name, &id);
                Ok(RoomRef {
                    name: name.to_owned(),
                    id,
                })
            }
            Ok(None) => {
                self.ctx
                    .note(format!("room `{name}` does not exist on the target"));
                Err(ErrorClass::Other)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    /// User ids of a room's members for presence subscriptions: the
    /// server's list (`channels.members`, first 100 by username, as the web
    /// client's member list shows them), fetched once per room for the whole
    /// run, so each shard sees every shard's users. Without a REST session,
    /// or when the server cannot list members, the users this shard
    /// provisioned.
    pub(crate) async fn member_ids(&mut self, room: &RoomRef) -> Arc<[String]> {
        if let Some(ids) = self.ctx.world.listed_members(&room.id) {
            return ids;
        }
        if let (Some(rest), Some(_)) = (&self.rest, &self.session) {
            match rest.channels_members(&room.id, 100).await {
                Ok(ids) => {
                    let ids: Arc<[String]> = ids.into();
                    self.ctx.world.set_listed_members(&room.id, ids.clone());
                    return ids;
                }
                Err(e) => self.ctx.note(format!(
                    "members of room `{}` (channels.members): {e}; presence watches this shard's users only",
                    room.name
                )),
            }
        }
        self.ctx.world.member_ids(&room.name).into()
    }
}

/// A room's id by name: `channels.info`, else the caller's `rooms.get`
/// (targets without `channels.info` still list the rooms one is in).
pub(crate) async fn lookup_room(rest: &Rest, name: &str) -> Result<Option<String>, RcError> {
    if let Some(id) = rest.channels_info(name).await? {
        return Ok(Some(id));
    }
    let rooms = rest.rooms_get().await?;
    let list = rooms
        .get("update")
        .and_then(Value::as_array)
        .or_else(|| rooms.as_array());
    Ok(list.and_then(|l| {
        l.iter()
            .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|r| r.get("_id").and_then(Value::as_str))
            .map(str::to_owned)
    }))
}
