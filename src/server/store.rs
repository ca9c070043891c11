//! The in-memory store shared by every instance: users, rooms, memberships
//! (subscriptions with unread state) and message history.
//!
//! One `RwLock` guards it all: operations are short (no I/O, no fan-out under
//! the lock beyond building frames) and instances are few, so one lock keeps
//! multi-record updates (post = message + unread counters) trivially atomic.
//! Users and rooms are addressed by dense indices internally; their string
//! ids appear only at the edges.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::errors::MeteorError;
use super::ids;

pub type UserIx = u32;
pub type RoomIx = u32;

/// Messages kept per room; the oldest are dropped beyond this.
pub const MAX_MESSAGES_PER_ROOM: usize = 100_000;
/// Rocket.Chat's default `Message_MaxAllowedSize`.
pub const MAX_MESSAGE_CHARS: usize = 5000;
/// Login tokens live 90 days (Meteor's default).
pub const TOKEN_LIFETIME_MS: u64 = 90 * 24 * 3600 * 1000;
/// Id and name of the default channel every user joins.
pub const GENERAL_ID: &str = "GENERAL";
pub const GENERAL_NAME: &str = "general";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Offline,
    Online,
    Away,
    Busy,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "offline" => Some(Status::Offline),
            "online" => Some(Status::Online),
            "away" => Some(Status::Away),
            "busy" => Some(Status::Busy),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Offline => "offline",
            Status::Online => "online",
            Status::Away => "away",
            Status::Busy => "busy",
        }
    }
    /// The number stream-notify-logged `user-status` carries.
    pub fn number(self) -> u8 {
        match self {
            Status::Offline => 0,
            Status::Online => 1,
            Status::Away => 2,
            Status::Busy => 3,
        }
    }
}

pub struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    password: [u8; 32],
    pub roles: Vec<String>,
    pub status: Status,
    /// The status the user chose (`setDefaultStatus`/`setUserStatus`);
    /// `None` follows the connections (online while one is logged in).
    pub chosen_status: Option<Status>,
    pub status_text: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub rooms: Vec<RoomIx>,
    tokens: Vec<[u8; 32]>,
    /// Logged-in DDP connections, for automatic online/offline.
    pub connections: u32,
}

/// Roles holding `api-bypass-rate-limit` in a default Rocket.Chat
/// (its permissions table gives it to `admin` and `bot`).
pub const BYPASS_RATE_LIMIT_ROLES: &[&str] = &["admin", "bot"];

impl User {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }

    /// Whether `digest_hex` (SHA-256 hex of a plain password) is this
    /// user's password.
    pub fn password_is(&self, digest_hex: &str) -> bool {
        self.password == ids::password_hash(digest_hex)
    }

    /// Rocket.Chat skips its REST limiter for this user's calls.
    pub fn bypasses_rate_limit(&self) -> bool {
        self.roles
            .iter()
            .any(|r| BYPASS_RATE_LIMIT_ROLES.contains(&r.as_str()))
    }
}

/// One user's subscription to one room.
#[derive(Clone, Debug)]
pub struct Membership {
    pub ts_ms: u64,
    pub ls_ms: u64,
    pub unread: u32,
    pub alert: bool,
    pub updated_ms: u64,
}

pub struct Message {
    pub id: String,
    pub msg: String,
    pub ts_ms: u64,
    pub user: UserIx,
    pub tmid: Option<String>,
}

pub struct Room {
    pub id: String,
    pub name: String,
    pub creator: Option<UserIx>,
    pub ts_ms: u64,
    pub updated_ms: u64,
    pub read_only: bool,
    pub default: bool,
    pub members: HashMap<UserIx, Membership>,
    /// Ordered by `ts_ms` (never decreasing: see [`Data::post`]).
    pub messages: VecDeque<Message>,
    pub msgs: u64,
}

impl Room {
    /// Messages with `ts` in the window, newest first, after skipping `offset`.
    pub fn history(&self, q: &HistoryQuery) -> Vec<&Message> {
        let latest = q.latest_ms.unwrap_or(u64::MAX);
        let oldest = q.oldest_ms.unwrap_or(0);
        let end = if q.inclusive {
            self.messages.partition_point(|m| m.ts_ms <= latest)
        } else {
            self.messages.partition_point(|m| m.ts_ms < latest)
        };
        let start = if q.inclusive {
            self.messages.partition_point(|m| m.ts_ms < oldest)
        } else {
            self.messages.partition_point(|m| m.ts_ms <= oldest)
        };
        if start >= end {
            return Vec::new();
        }
        self.messages
            .range(start..end)
            .rev()
            .skip(q.offset)
            .take(q.count)
            .collect()
    }

    pub fn is_member(&self, user: UserIx) -> bool {
        self.members.contains_key(&user)
    }
}

/// A history window (channels.history and loadHistory).
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub latest_ms: Option<u64>,
    pub oldest_ms: Option<u64>,
    pub inclusive: bool,
    pub offset: usize,
    pub count: usize,
}

/// How a login names its user.
pub enum UserSelector<'a> {
    UsernameOrEmail(&'a str),
    Username(&'a str),
    Email(&'a str),
    Id(&'a str),
}

#[derive(Default)]
pub struct Data {
    pub users: Vec<User>,
    user_by_id: HashMap<String, UserIx>,
    user_by_name: HashMap<String, UserIx>,
    user_by_email: HashMap<String, UserIx>,
    tokens: HashMap<[u8; 32], (UserIx, u64)>,
    pub rooms: Vec<Room>,
    room_by_id: HashMap<String, RoomIx>,
    room_by_name: HashMap<String, RoomIx>,
}

/// A new user's fields.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    /// [`ids::password_hash`] of the password's digest.
    pub password: [u8; 32],
    pub roles: &'a [&'a str],
}

/// A freshly issued login token.
pub struct Login {
    pub user: UserIx,
    pub token: String,
    pub expires_ms: u64,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 120
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Data {
    pub fn user(&self, ix: UserIx) -> &User {
        // Invariant: indices come only from this store, which never removes
        // a user from `users` (a deleted one leaves only the lookups).
        &self.users[ix as usize]
    }
    pub fn user_mut(&mut self, ix: UserIx) -> &mut User {
        &mut self.users[ix as usize]
    }
    pub fn room(&self, ix: RoomIx) -> &Room {
        // Invariant: rooms stay in `rooms`; a deleted one leaves the lookups.
        &self.rooms[ix as usize]
    }
    pub fn room_mut(&mut self, ix: RoomIx) -> &mut Room {
        &mut self.rooms[ix as usize]
    }

    /// Users not deleted.
    pub fn user_count(&self) -> usize {
        self.user_by_id.len()
    }
    /// Rooms not deleted.
    pub fn room_count(&self) -> usize {
        self.room_by_id.len()
    }

    /// Deletes a user as `users.delete` does: every lookup forgets it, its
    /// logins end and it leaves its rooms; its messages stay, as with
    /// Rocket.Chat's default `confirmRelinquish`-less delete of a non-owner.
    pub fn delete_user(&mut self, ix: UserIx) {
        let u = &mut self.users[ix as usize];
        let (id, name, email) = (
            u.id.clone(),
            u.username.to_ascii_lowercase(),
            u.email.to_ascii_lowercase(),
        );
        let tokens = std::mem::take(&mut u.tokens);
        let rooms = std::mem::take(&mut u.rooms);
        self.user_by_id.remove(&id);
        self.user_by_name.remove(&name);
        self.user_by_email.remove(&email);
        for t in tokens {
            self.tokens.remove(&t);
        }
        for r in rooms {
            self.room_mut(r).members.remove(&ix);
        }
    }

    /// Deletes a room as `channels.delete` does: lookups forget it, its
    /// members leave it and its messages go.
    pub fn delete_room(&mut self, ix: RoomIx) {
        let r = &mut self.rooms[ix as usize];
        let (id, name) = (r.id.clone(), r.name.to_ascii_lowercase());
        let members: Vec<UserIx> = r.members.drain().map(|(u, _)| u).collect();
        r.messages.clear();
        self.room_by_id.remove(&id);
        self.room_by_name.remove(&name);
        for u in members {
            self.user_mut(u).rooms.retain(|&x| x != ix);
        }
    }

    pub fn user_by_id(&self, id: &str) -> Option<UserIx> {
        self.user_by_id.get(id).copied()
    }
    pub fn user_by_username(&self, name: &str) -> Option<UserIx> {
        self.user_by_name.get(&name.to_ascii_lowercase()).copied()
    }
    pub fn room_by_id(&self, id: &str) -> Option<RoomIx> {
        self.room_by_id.get(id).copied()
    }
    pub fn room_by_name(&self, name: &str) -> Option<RoomIx> {
        self.room_by_name
            .get(&name.trim_start_matches('#').to_ascii_lowercase())
            .copied()
    }

    pub fn find_user(&self, sel: &UserSelector<'_>) -> Option<UserIx> {
        match sel {
            UserSelector::Username(n) => self.user_by_username(n),
            UserSelector::Email(e) => self.user_by_email.get(&e.to_ascii_lowercase()).copied(),
            UserSelector::Id(id) => self.user_by_id(id),
            UserSelector::UsernameOrEmail(s) if s.contains('@') => self
                .user_by_email
                .get(&s.to_ascii_lowercase())
                .copied()
                .or_else(|| self.user_by_username(s)),
            UserSelector::UsernameOrEmail(s) => self.user_by_username(s),
        }
    }

    /// Creates a user (joined to the default channels, as Rocket.Chat does).
    pub fn create_user(&mut self, new: &NewUser<'_>, now: u64) -> Result<UserIx, MeteorError> {
        if !valid_name(new.username) {
            return Err(MeteorError::new(
                "error-invalid-username",
                format!(
                    "{} is not a valid username, use only letters, numbers, dots, hyphens and underscores",
                    new.username
                ),
            ));
        }
        let key = new.username.to_ascii_lowercase();
        if self.user_by_name.contains_key(&key) {
            return Err(MeteorError::new(
                "error-field-unavailable",
                format!("<strong>{}</strong> is already in use :(", new.username),
            ));
        }
        let email = new.email.to_ascii_lowercase();
        if !email.is_empty() && self.user_by_email.contains_key(&email) {
            return Err(MeteorError::new("403", "Email already exists."));
        }
        let ix = u32::try_from(self.users.len())
            .map_err(|_| MeteorError::new("error-too-many-users", "User limit reached"))?;
        let id = ids::random_id();
        self.user_by_id.insert(id.clone(), ix);
        self.user_by_name.insert(key, ix);
        if !email.is_empty() {
            self.user_by_email.insert(email, ix);
        }
        self.users.push(User {
            id,
            username: new.username.to_string(),
            name: new.name.to_string(),
            email: new.email.to_string(),
            password: new.password,
            roles: new.roles.iter().map(|r| (*r).to_string()).collect(),
            status: Status::Offline,
            chosen_status: None,
            status_text: String::new(),
            created_ms: now,
            updated_ms: now,
            rooms: Vec::new(),
            tokens: Vec::new(),
            connections: 0,
        });
        let defaults: Vec<RoomIx> = (0..self.rooms.len() as RoomIx)
            .filter(|&r| self.room(r).default)
            .collect();
        for r in defaults {
            self.join(r, ix, now);
        }
        Ok(ix)
    }

    /// Checks a password (given as [`ids::password_hash`] of its digest).
    pub fn check_password(&self, sel: &UserSelector<'_>, hash: &[u8; 32]) -> Option<UserIx> {
        let ix = self.find_user(sel)?;
        (self.user(ix).password == *hash).then_some(ix)
    }

    pub fn issue_token(&mut self, user: UserIx, now: u64) -> Login {
        let token = ids::random_secret();
        let hash = ids::token_hash(&token);
        let expires_ms = now + TOKEN_LIFETIME_MS;
        self.tokens.insert(hash, (user, expires_ms));
        self.user_mut(user).tokens.push(hash);
        Login {
            user,
            token,
            expires_ms,
        }
    }

    /// The user and expiry of a live token.
    pub fn resume(&self, token: &str, now: u64) -> Option<(UserIx, u64)> {
        let (ix, exp) = *self.tokens.get(&ids::token_hash(token))?;
        (exp > now).then_some((ix, exp))
    }

    /// REST auth: `X-User-Id` + `X-Auth-Token`.
    pub fn authenticate(&self, user_id: &str, token: &str, now: u64) -> Option<UserIx> {
        let (ix, _) = self.resume(token, now)?;
        (self.user(ix).id == user_id).then_some(ix)
    }

    pub fn revoke_token(&mut self, token: &str) {
        let hash = ids::token_hash(token);
        if let Some((ix, _)) = self.tokens.remove(&hash) {
            self.user_mut(ix).tokens.retain(|t| *t != hash);
        }
    }

    /// Creates a public channel with its creator and `members` joined.
    pub fn create_room(
        &mut self,
        name: &str,
        creator: Option<UserIx>,
        members: &[UserIx],
        read_only: bool,
        now: u64,
    ) -> Result<RoomIx, MeteorError> {
        if !valid_name(name) {
            return Err(MeteorError::new(
                "error-invalid-room-name",
                format!("{name} is not a valid room name"),
            )
            .with_details(serde_json::json!({ "channel_name": name })));
        }
        let key = name.to_ascii_lowercase();
        if self.room_by_name.contains_key(&key) {
            return Err(MeteorError::new(
                "error-duplicate-channel-name",
                format!("A channel with name '{name}' exists"),
            )
            .with_details(serde_json::json!({ "channel_name": name })));
        }
        let id = if name == GENERAL_NAME && !self.room_by_id.contains_key(GENERAL_ID) {
            GENERAL_ID.to_string()
        } else {
            ids::random_id()
        };
        let ix = u32::try_from(self.rooms.len())
            .map_err(|_| MeteorError::new("error-too-many-rooms", "Room limit reached"))?;
        self.room_by_id.insert(id.clone(), ix);
        self.room_by_name.insert(key, ix);
        self.rooms.push(Room {
            id,
            name: name.to_string(),
            creator,
            ts_ms: now,
            updated_ms: now,
            read_only,
            default: false,
            members: HashMap::new(),
            messages: VecDeque::new(),
            msgs: 0,
        });
        for &m in creator.iter().chain(members) {
            self.join(ix, m, now);
        }
        Ok(ix)
    }

    /// Adds `user` to `room`; false when already a member.
    pub fn join(&mut self, room: RoomIx, user: UserIx, now: u64) -> bool {
        let r = self.room_mut(room);
        if r.members.contains_key(&user) {
            return false;
        }
        r.members.insert(
            user,
            Membership {
                ts_ms: now,
                ls_ms: now,
                unread: 0,
                alert: false,
                updated_ms: now,
            },
        );
        r.updated_ms = now;
        self.user_mut(user).rooms.push(room);
        true
    }

    /// Appends a message; bumps unread/alert of every other member. Returns
    /// the message's index in the room's history.
    pub fn post(
        &mut self,
        room: RoomIx,
        user: UserIx,
        id: Option<&str>,
        msg: &str,
        tmid: Option<&str>,
        now: u64,
    ) -> Result<usize, MeteorError> {
        if msg.chars().count() > MAX_MESSAGE_CHARS {
            return Err(MeteorError::new(
                "error-message-size-exceeded",
                "Message size exceeds Message_MaxAllowedSize",
            ));
        }
        let r = self.room_mut(room);
        if let Some(id) = id
            && r.messages.iter().rev().take(1000).any(|m| m.id == id)
        {
            return Err(MeteorError::new(
                "error-duplicated-message",
                "Message is duplicated",
            ));
        }
        // Keep the history sorted even if the wall clock steps back.
        let ts = r.messages.back().map_or(now, |last| last.ts_ms.max(now));
        if r.messages.len() >= MAX_MESSAGES_PER_ROOM {
            r.messages.pop_front();
        }
        r.messages.push_back(Message {
            id: id.map_or_else(ids::random_id, str::to_string),
            msg: msg.to_string(),
            ts_ms: ts,
            user,
            tmid: tmid.map(str::to_string),
        });
        r.msgs += 1;
        r.updated_ms = ts;
        for (&m, sub) in r.members.iter_mut() {
            if m != user {
                sub.unread = sub.unread.saturating_add(1);
                sub.alert = true;
                sub.updated_ms = ts;
            }
        }
        Ok(r.messages.len() - 1)
    }

    /// Marks the room read for `user`; false when not a member.
    pub fn mark_read(&mut self, room: RoomIx, user: UserIx, now: u64) -> bool {
        match self.room_mut(room).members.get_mut(&user) {
            Some(sub) => {
                sub.unread = 0;
                sub.alert = false;
                sub.ls_ms = now;
                sub.updated_ms = now;
                true
            }
            None => false,
        }
    }

    /// Sets a chosen status; returns the effective status.
    pub fn set_status(
        &mut self,
        user: UserIx,
        status: Status,
        text: Option<&str>,
        now: u64,
    ) -> Status {
        let u = self.user_mut(user);
        u.chosen_status = Some(status);
        u.status = status;
        if let Some(t) = text {
            u.status_text = t.to_string();
        }
        u.updated_ms = now;
        status
    }

    /// A DDP connection logged in (+1) or went away (-1): automatic
    /// presence. Returns the new status when it changed.
    pub fn connection_changed(&mut self, user: UserIx, delta: i32) -> Option<Status> {
        let u = self.user_mut(user);
        u.connections = u.connections.saturating_add_signed(delta);
        let status = match (u.connections, u.chosen_status) {
            (0, _) => Status::Offline,
            (_, Some(s)) => s,
            (_, None) => Status::Online,
        };
        (std::mem::replace(&mut u.status, status) != status).then_some(status)
    }
}

/// Seeding parameters (see `ServerConfig::seed`).
#[derive(Clone, Debug)]
pub struct SeedPlan<'a> {
    pub users: u32,
    pub rooms: u32,
    pub members_per_room: u32,
    pub password: &'a str,
    pub user_prefix: &'a str,
    pub room_prefix: &'a str,
}

pub struct Store {
    data: RwLock<Data>,
    messages_stored: AtomicU64,
}

impl Store {
    /// A store with the GENERAL channel and the admin user.
    pub fn new(admin_user: &str, admin_password: &str) -> Result<Store, MeteorError> {
        let now = ids::now_ms();
        let mut data = Data::default();
        let general = data.create_room(GENERAL_NAME, None, &[], false, now)?;
        data.room_mut(general).default = true;
        data.create_user(
            &NewUser {
                username: admin_user,
                name: admin_user,
                email: &format!("{admin_user}@rocketload.local"),
                password: ids::password_hash(&ids::password_digest(admin_password)),
                roles: &["admin", "user"],
            },
            now,
        )?;
        Ok(Store {
            data: RwLock::new(data),
            messages_stored: AtomicU64::new(0),
        })
    }

    /// Creates `<prefix>1..N` users and `<room-prefix>1..M` rooms, members
    /// assigned round-robin. Cheap per user: one shared password hash.
    pub fn seed(&self, plan: &SeedPlan<'_>) -> Result<(), MeteorError> {
        let now = ids::now_ms();
        let hash = ids::password_hash(&ids::password_digest(plan.password));
        let mut data = self.write();
        let mut seeded = Vec::with_capacity(plan.users as usize);
        for i in 1..=plan.users {
            let username = format!("{}{i}", plan.user_prefix);
            let email = format!("{username}@rocketload.local");
            seeded.push(data.create_user(
                &NewUser {
                    username: &username,
                    name: &username,
                    email: &email,
                    password: hash,
                    roles: &["user"],
                },
                now,
            )?);
        }
        let per_room = (plan.members_per_room as usize).min(seeded.len());
        let mut next = 0usize;
        for j in 1..=plan.rooms {
            let mut members = Vec::with_capacity(per_room);
            for _ in 0..per_room {
                members.push(seeded[next % seeded.len()]);
                next += 1;
            }
            data.create_room(
                &format!("{}{j}", plan.room_prefix),
                None,
                &members,
                false,
                now,
            )?;
        }
        Ok(())
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Data> {
        // A panic while holding the lock cannot leave a half-written record
        // that matters for a test server; keep serving.
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn count_message(&self) {
        self.messages_stored.fetch_add(1, Ordering::Relaxed);
    }

    pub fn messages_stored(&self) -> u64 {
        self.messages_stored.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new("admin", "pw").unwrap()
    }

    #[test]
    fn seeding_assigns_members_round_robin() {
        let s = store();
        s.seed(&SeedPlan {
            users: 10,
            rooms: 3,
            members_per_room: 4,
            password: "p",
            user_prefix: "u-",
            room_prefix: "r-",
        })
        .unwrap();
        let d = s.read();
        assert_eq!(d.users.len(), 11);
        let r3 = d.room_by_name("r-3").unwrap();
        assert_eq!(d.room(r3).members.len(), 4);
        let u9 = d.user_by_username("u-9").unwrap();
        assert!(d.room(r3).is_member(u9));
        let general = d.room_by_id(GENERAL_ID).unwrap();
        assert_eq!(d.room(general).members.len(), 11);
        let hash = ids::password_hash(&ids::password_digest("p"));
        assert_eq!(
            d.check_password(&UserSelector::UsernameOrEmail("U-1"), &hash),
            d.user_by_username("u-1")
        );
    }

    #[test]
    fn history_pages_newest_first() {
        let s = store();
        let mut d = s.write();
        let g = d.room_by_id(GENERAL_ID).unwrap();
        for i in 0..10u64 {
            d.post(g, 0, None, &format!("m{i}"), None, 1000 + i)
                .unwrap();
        }
        let q = |latest, offset, count| HistoryQuery {
            latest_ms: latest,
            oldest_ms: None,
            inclusive: false,
            offset,
            count,
        };
        let texts = |v: Vec<&Message>| v.iter().map(|m| m.msg.clone()).collect::<Vec<_>>();
        assert_eq!(texts(d.room(g).history(&q(None, 0, 3))), ["m9", "m8", "m7"]);
        assert_eq!(texts(d.room(g).history(&q(None, 3, 2))), ["m6", "m5"]);
        assert_eq!(texts(d.room(g).history(&q(Some(1002), 0, 5))), ["m1", "m0"]);
    }

    #[test]
    fn unread_counts_and_read() {
        let s = store();
        let mut d = s.write();
        let now = 5;
        let b = d
            .create_user(
                &NewUser {
                    username: "bob",
                    name: "Bob",
                    email: "b@x",
                    password: [0; 32],
                    roles: &["user"],
                },
                now,
            )
            .unwrap();
        let g = d.room_by_id(GENERAL_ID).unwrap();
        d.post(g, 0, None, "hi", None, now).unwrap();
        assert_eq!(d.room(g).members[&b].unread, 1);
        assert_eq!(d.room(g).members[&0].unread, 0);
        assert!(d.mark_read(g, b, now));
        assert!(!d.room(g).members[&b].alert);
        assert!(
            d.create_user(
                &NewUser {
                    username: "BOB",
                    name: "",
                    email: "",
                    password: [0; 32],
                    roles: &[]
                },
                now
            )
            .is_err()
        );
    }

    #[test]
    fn tokens_resume_and_revoke() {
        let s = store();
        let mut d = s.write();
        let login = d.issue_token(0, 10);
        assert_eq!(login.token.len(), 43);
        assert_eq!(d.resume(&login.token, 11).map(|r| r.0), Some(0));
        let id = d.user(0).id.clone();
        assert_eq!(d.authenticate(&id, &login.token, 11), Some(0));
        assert_eq!(d.authenticate("other", &login.token, 11), None);
        d.revoke_token(&login.token);
        assert!(d.resume(&login.token, 11).is_none());
    }
}
