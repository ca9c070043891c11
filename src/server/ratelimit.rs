//! Rocket.Chat's rate limiters (`serve --rate-limits`; off by default).
//!
//! Both limiters follow Meteor's `RateLimiter` (package `rate-limit`), which
//! Rocket.Chat uses for REST and DDP alike:
//! - a rule counts calls per key (the values of its matched fields);
//! - a call is counted first, then checked: the call that makes the count
//!   exceed `allowed` is refused, and so is every later one in the window;
//! - windows are per rule, not per key: when `interval` has passed since the
//!   rule's last reset, all its counters are dropped at once. That is also
//!   what bounds memory: a rule holds only the keys seen in one window.
//!
//! REST (RC `ApiClass.ts`): one rule per route, keyed by client IP; 10 calls
//! per 60 s by default, `users.register` 1 per 60 s. Every answer on a limited
//! route carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (epoch ms); a refusal is a 429 with RC's body.
//!
//! DDP (RC `app/lib/server/startup/rateLimiter.ts`):
//! per IP 120000/60 s (127.0.0.1 exempt), per user 1200/60 s, per connection
//! 600/60 s, per user+method 20/10 s, per connection+method 10/10 s (for
//! `stream-*` names both count and interval ×4). Names with a rule of their
//! own skip the per-method defaults: `sendMessage` 5/1 s per user. `login`
//! has Meteor's accounts rule, 5/10 s per connection, on top of the defaults.
//! A refusal is the Meteor error `too-many-requests` ([`too_many_requests_error`]).
//!
//! Rocket.Chat keeps these counters in each process, so build one
//! [`Limiters`] per instance (the lock is then uncontended). Its switches
//! are settings, shared by every instance ([`Switches`]) and changed
//! through `POST /api/v1/settings/:_id` while the server runs: the REST
//! limiter as a whole, and each default DDP rule. `--rate-limits` sets
//! them all at start, and also decides the rules without a switch
//! (`sendMessage`, `login`).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::MeteorError;
use crate::rocketchat::settings::{DDP_LIMITERS, REST_LIMITER};

/// REST default: calls per window (`API_Enable_Rate_Limiter_Limit_Calls_Default`).
pub const REST_DEFAULT_CALLS: u32 = 10;
/// REST default window (`API_Enable_Rate_Limiter_Limit_Time_Default`).
pub const REST_DEFAULT_INTERVAL_MS: u64 = 60_000;
/// `users.register` calls per window (`Rate_Limiter_Limit_RegisterUser`).
pub const REST_REGISTER_CALLS: u32 = 1;
/// Beyond this many distinct routes, further ones share one rule (memory bound).
const MAX_REST_ROUTES: usize = 1024;
/// Key of the shared rule for routes over [`MAX_REST_ROUTES`].
const OVERFLOW_ROUTE: &str = "\u{0}overflow";

/// What a REST route allows now; the source of the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateInfo {
    /// Calls allowed per window; 0 means "not rate limited" (no headers).
    pub limit: u32,
    pub remaining: u32,
    /// Epoch milliseconds at which the window resets.
    pub reset_ms: u64,
}

impl RateInfo {
    /// The answer when limiting is off: no headers.
    pub fn unlimited() -> RateInfo {
        RateInfo {
            limit: 0,
            remaining: 0,
            reset_ms: 0,
        }
    }

    /// Adds the `X-RateLimit-*` headers (nothing when unlimited).
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        if self.limit == 0 {
            return;
        }
        for (name, value) in [
            ("x-ratelimit-limit", u64::from(self.limit)),
            ("x-ratelimit-remaining", u64::from(self.remaining)),
            ("x-ratelimit-reset", self.reset_ms),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

/// A refused REST call; its response is RC's 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many requests: limit {limit}, wait {time_to_reset_ms} ms")]
pub struct RateLimited {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch milliseconds at which the window resets.
    pub reset_ms: u64,
    pub time_to_reset_ms: u64,
}

impl RateLimited {
    /// A refusal of a limiter allowing `limit` calls that resets in `time_to_reset_ms`
    /// (also for the `rate_limit` fault).
    pub fn new(limit: u32, time_to_reset_ms: u64) -> RateLimited {
        RateLimited {
            limit,
            remaining: 0,
            reset_ms: epoch_ms() + time_to_reset_ms,
            time_to_reset_ms,
        }
    }

    /// RC's 429 body.
    pub fn body(&self) -> Value {
        let seconds = self.time_to_reset_ms.div_ceil(1000);
        json!({
            "success": false,
            "error": format!(
                "Error, too many requests. Please slow down. You must wait {seconds} seconds \
                 before trying this endpoint again. [error-too-many-requests]"
            ),
        })
    }

    fn info(&self) -> RateInfo {
        RateInfo {
            limit: self.limit,
            remaining: self.remaining,
            reset_ms: self.reset_ms,
        }
    }
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(self.body())).into_response();
        self.info().apply_headers(response.headers_mut());
        response
    }
}

/// The Meteor error object for a refused DDP call;
/// built by the core's `MeteorError` so there is one serializer.
pub fn too_many_requests_error(time_to_reset_ms: u64) -> Value {
    MeteorError::too_many_requests(time_to_reset_ms).to_json()
}

/// The whole `result` frame refusing method call `id`.
pub fn ddp_method_refusal(id: &str, time_to_reset_ms: u64) -> Value {
    json!({"msg": "result", "id": id, "error": too_many_requests_error(time_to_reset_ms)})
}

/// The whole `nosub` frame refusing subscription `id`.
pub fn ddp_sub_refusal(id: &str, time_to_reset_ms: u64) -> Value {
    json!({"msg": "nosub", "id": id, "error": too_many_requests_error(time_to_reset_ms)})
}

/// One Meteor rate-limit rule: counters per key, reset together per window.
#[derive(Debug)]
struct Rule {
    allowed: u32,
    interval_ms: u64,
    last_reset_ms: u64,
    counters: HashMap<u64, u32>,
}

/// A rule's verdict on one call.
#[derive(Clone, Copy, Debug)]
struct Verdict {
    allowed: bool,
    remaining: u32,
    time_to_reset_ms: u64,
}

impl Rule {
    fn new(allowed: u32, interval_ms: u64, now_ms: u64) -> Rule {
        Rule {
            allowed,
            interval_ms,
            last_reset_ms: now_ms,
            counters: HashMap::new(),
        }
    }

    /// Counts one call of `key` at `now_ms` and judges it (Meteor's
    /// `increment` then `check`).
    fn hit(&mut self, key: u64, now_ms: u64) -> Verdict {
        let since = now_ms.saturating_sub(self.last_reset_ms);
        if since >= self.interval_ms {
            // Dropping the map (not clearing it) returns its memory too.
            self.counters = HashMap::new();
            self.last_reset_ms = now_ms;
        }
        let count = self.counters.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        Verdict {
            allowed: *count <= self.allowed,
            remaining: self.allowed.saturating_sub(*count),
            time_to_reset_ms: self.interval_ms - now_ms.saturating_sub(self.last_reset_ms),
        }
    }
}

/// The DDP rules of Rocket.Chat's rate limiter, in one lock.
#[derive(Debug)]
struct DdpRules {
    ip: Rule,
    user: Rule,
    connection: Rule,
    user_method: Rule,
    user_stream: Rule,
    connection_method: Rule,
    connection_stream: Rule,
    send_message: Rule,
    login: Rule,
}

/// What a DDP call is, for the rules' keys.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum CallType {
    Method,
    Subscription,
}

/// Methods with a rule of their own (a string name in RC's `addRule`), which
/// therefore skip the per-method defaults.
const OWN_RULE_METHODS: &[&str] = &["sendMessage"];

/// Which limiters are on, as Rocket.Chat's settings say; one for all
/// instances, as RC keeps settings in its database.
#[derive(Debug)]
pub struct Switches {
    rest: AtomicBool,
    /// In the order of [`DDP_LIMITERS`].
    ddp: [AtomicBool; 5],
    /// The rules without a setting: `sendMessage`'s and `login`'s.
    own_rules: bool,
}

/// Indexes into [`Switches::ddp`], as [`DDP_LIMITERS`] orders them.
const DDP_IP: usize = 0;
const DDP_USER: usize = 1;
const DDP_CONNECTION: usize = 2;
const DDP_USER_BY_METHOD: usize = 3;
const DDP_CONNECTION_BY_METHOD: usize = 4;

impl Switches {
    /// Everything on (Rocket.Chat's default) or everything off.
    pub fn new(on: bool) -> Arc<Switches> {
        Arc::new(Switches {
            rest: AtomicBool::new(on),
            ddp: std::array::from_fn(|_| AtomicBool::new(on)),
            own_rules: on,
        })
    }

    fn flag(&self, id: &str) -> Option<&AtomicBool> {
        if id == REST_LIMITER {
            return Some(&self.rest);
        }
        let i = DDP_LIMITERS.iter().position(|d| *d == id)?;
        Some(&self.ddp[i])
    }

    /// The value of setting `id`; None for a setting that is not a switch.
    pub fn get(&self, id: &str) -> Option<bool> {
        self.flag(id).map(|f| f.load(Ordering::Relaxed))
    }

    /// Sets switch `id`; false when `id` is not one.
    pub fn set(&self, id: &str, on: bool) -> bool {
        self.flag(id)
            .map(|f| f.store(on, Ordering::Relaxed))
            .is_some()
    }

    fn ddp(&self, i: usize) -> bool {
        self.ddp[i].load(Ordering::Relaxed)
    }

    fn any_ddp(&self) -> bool {
        self.own_rules || (0..self.ddp.len()).any(|i| self.ddp(i))
    }
}

/// Rocket.Chat's REST and DDP rate limiters; `Send + Sync`.
#[derive(Debug)]
pub struct Limiters {
    switches: Arc<Switches>,
    clock: Instant,
    hasher: RandomState,
    rest: Mutex<HashMap<String, Rule>>,
    ddp: Mutex<DdpRules>,
}

impl Limiters {
    /// Counters of this instance under the shared `switches`; a limiter
    /// switched off costs one load and a branch.
    pub fn new(switches: Arc<Switches>) -> Limiters {
        let rule = Rule::new;
        Limiters {
            switches,
            clock: Instant::now(),
            hasher: RandomState::new(),
            rest: Mutex::new(HashMap::new()),
            ddp: Mutex::new(DdpRules {
                ip: rule(120_000, 60_000, 0),
                user: rule(1_200, 60_000, 0),
                connection: rule(600, 60_000, 0),
                user_method: rule(20, 10_000, 0),
                user_stream: rule(20 * 4, 10_000 * 4, 0),
                connection_method: rule(10, 10_000, 0),
                connection_stream: rule(10 * 4, 10_000 * 4, 0),
                send_message: rule(5, 1_000, 0),
                login: rule(5, 10_000, 0),
            }),
        }
    }

    /// Whether REST calls are counted now.
    pub fn rest_on(&self) -> bool {
        self.switches.rest.load(Ordering::Relaxed)
    }

    /// Whether any DDP rule counts now (callers skip building its keys).
    pub fn ddp_on(&self) -> bool {
        self.switches.any_ddp()
    }

    /// Counts a REST call of `route` (the endpoint, e.g. `chat.postMessage`,
    /// or RC's `route + method`; one rule per distinct string) from `ip`.
    /// Call it only for routes the server serves.
    pub fn check_rest(&self, route: &str, ip: &IpAddr) -> Result<RateInfo, RateLimited> {
        if !self.rest_on() {
            return Ok(RateInfo::unlimited());
        }
        let now = self.now_ms();
        let key = self.hasher.hash_one(canonical_ip(ip));
        let mut rules = lock(&self.rest);
        let name = if rules.contains_key(route) || rules.len() < MAX_REST_ROUTES {
            route
        } else {
            OVERFLOW_ROUTE
        };
        let rule = rules.entry(name.to_owned()).or_insert_with(|| {
            let allowed = if name.ends_with("users.register") {
                REST_REGISTER_CALLS
            } else {
                REST_DEFAULT_CALLS
            };
            Rule::new(allowed, REST_DEFAULT_INTERVAL_MS, now)
        });
        let verdict = rule.hit(key, now);
        let limit = rule.allowed;
        drop(rules);
        let reset_ms = epoch_ms() + verdict.time_to_reset_ms;
        if verdict.allowed {
            Ok(RateInfo {
                limit,
                remaining: verdict.remaining,
                reset_ms,
            })
        } else {
            Err(RateLimited {
                limit,
                remaining: 0,
                reset_ms,
                time_to_reset_ms: verdict.time_to_reset_ms,
            })
        }
    }

    /// Counts a DDP method call (`name`) or subscription (`sub:<publication>`)
    /// by `user_id` ("" before login) on connection `conn_id` from `ip`.
    /// `Err` carries `timeToReset` in ms for [`too_many_requests_error`].
    pub fn check_ddp(
        &self,
        name: &str,
        user_id: &str,
        conn_id: u64,
        ip: &IpAddr,
    ) -> Result<(), u64> {
        let on = &*self.switches;
        if !on.any_ddp() {
            return Ok(());
        }
        let (kind, name) = match name.strip_prefix("sub:") {
            Some(publication) => (CallType::Subscription, publication),
            None => (CallType::Method, name),
        };
        let user = (!user_id.is_empty()).then_some(user_id);
        let ip = canonical_ip(ip);
        let stream = name.starts_with("stream-");
        let own_rule = kind == CallType::Method && OWN_RULE_METHODS.contains(&name);
        let hs = &self.hasher;

        let now = self.now_ms();
        let mut rules = lock(&self.ddp);
        let r = &mut *rules;
        let mut verdicts: [Option<Verdict>; 6] = [None; 6];
        if on.ddp(DDP_IP) && ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
            verdicts[0] = Some(r.ip.hit(hs.hash_one(ip), now));
        }
        if let Some(user) = user.filter(|_| on.ddp(DDP_USER)) {
            verdicts[1] = Some(r.user.hit(hs.hash_one(user), now));
        }
        if on.ddp(DDP_CONNECTION) {
            verdicts[2] = Some(r.connection.hit(hs.hash_one(conn_id), now));
        }
        if !own_rule {
            if let Some(user) = user.filter(|_| on.ddp(DDP_USER_BY_METHOD)) {
                let rule = if stream {
                    &mut r.user_stream
                } else {
                    &mut r.user_method
                };
                verdicts[3] = Some(rule.hit(hs.hash_one((kind, name, user)), now));
            }
            if on.ddp(DDP_CONNECTION_BY_METHOD) {
                let rule = if stream {
                    &mut r.connection_stream
                } else {
                    &mut r.connection_method
                };
                verdicts[4] = Some(rule.hit(hs.hash_one((kind, name, conn_id)), now));
            }
        }
        verdicts[5] = match (kind, name) {
            _ if !on.own_rules => None,
            (CallType::Method, "sendMessage") => {
                user.map(|user| r.send_message.hit(hs.hash_one(user), now))
            }
            (CallType::Method, "login") => Some(r.login.hit(hs.hash_one(conn_id), now)),
            _ => None,
        };
        drop(rules);
        // Like Meteor: the longest wait among the rules that refuse.
        let wait = verdicts
            .iter()
            .flatten()
            .filter(|v| !v.allowed)
            .map(|v| v.time_to_reset_ms)
            .max();
        match wait {
            Some(ms) => Err(ms),
            None => Ok(()),
        }
    }

    /// Keys held now, over all rules (for tests and stats).
    pub fn tracked_keys(&self) -> usize {
        let rest: usize = lock(&self.rest).values().map(|r| r.counters.len()).sum();
        let d = lock(&self.ddp);
        rest + [
            &d.ip,
            &d.user,
            &d.connection,
            &d.user_method,
            &d.user_stream,
            &d.connection_method,
            &d.connection_stream,
            &d.send_message,
            &d.login,
        ]
        .iter()
        .map(|r| r.counters.len())
        .sum::<usize>()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Locks `m`; a panic while holding it left only counters behind, which
/// stay usable, so a poisoned lock is taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address (dual-stack sockets).
fn canonical_ip(ip: &IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
        IpAddr::V4(_) => *ip,
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn disabled_allows_everything() {
        let l = Limiters::new(Switches::new(false));
        for _ in 0..100 {
            assert_eq!(l.check_rest("login", &LOCAL), Ok(RateInfo::unlimited()));
            assert_eq!(l.check_ddp("sendMessage", "u1", 1, &LOCAL), Ok(()));
        }
        let mut h = HeaderMap::new();
        RateInfo::unlimited().apply_headers(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn rest_allows_ten_per_route_and_ip() {
        let l = Limiters::new(Switches::new(true));
        for i in 0..10 {
            let info = l.check_rest("chat.postMessage", &LOCAL).unwrap();
            assert_eq!((info.limit, info.remaining), (10, 9 - i));
            assert!(info.reset_ms > epoch_ms());
        }
        let refused = l.check_rest("chat.postMessage", &LOCAL).unwrap_err();
        assert_eq!((refused.limit, refused.remaining), (10, 0));
        assert!(refused.time_to_reset_ms > 0 && refused.time_to_reset_ms <= 60_000);
        // Another IP and another route have their own counts.
        assert!(l.check_rest("chat.postMessage", &OTHER).is_ok());
        assert!(l.check_rest("channels.history", &LOCAL).is_ok());
    }

    #[test]
    fn register_allows_one() {
        let l = Limiters::new(Switches::new(true));
        assert_eq!(l.check_rest("users.register", &LOCAL).unwrap().limit, 1);
        assert!(l.check_rest("users.register", &LOCAL).is_err());
    }

    #[test]
    fn refusal_response_is_rcs_429() {
        let refused = RateLimited::new(10, 54_200);
        assert_eq!(
            refused.body(),
            json!({"success": false, "error": "Error, too many requests. Please slow down. \
                You must wait 55 seconds before trying this endpoint again. [error-too-many-requests]"})
        );
        let response = refused.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = response.headers();
        assert_eq!(h["x-ratelimit-limit"], "10");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > epoch_ms() + 50_000);
    }

    #[test]
    fn ddp_error_matches_meteor() {
        let e = too_many_requests_error(4_213);
        let reason = "Error, too many requests. Please slow down. You must wait 5 seconds before trying again.";
        assert_eq!(e["error"], "too-many-requests");
        assert_eq!(e["reason"], reason);
        assert_eq!(e["message"], format!("{reason} [too-many-requests]"));
        assert_eq!(e["details"]["timeToReset"], 4_213);
        assert_eq!(e["errorType"], "Meteor.Error");
        assert_eq!(e["isClientSafe"], true);
        assert_eq!(ddp_method_refusal("7", 1)["msg"], "result");
        assert_eq!(ddp_sub_refusal("s1", 1)["msg"], "nosub");
        assert_eq!(ddp_sub_refusal("s1", 1)["id"], "s1");
    }

    #[test]
    fn ddp_connection_method_allows_ten() {
        let l = Limiters::new(Switches::new(true));
        for _ in 0..10 {
            assert_eq!(l.check_ddp("joinRoom", "u1", 1, &LOCAL), Ok(()));
        }
        let wait = l.check_ddp("joinRoom", "u1", 1, &LOCAL).unwrap_err();
        assert!(wait > 0 && wait <= 10_000, "{wait}");
        // Other methods and other connections are unaffected.
        assert_eq!(l.check_ddp("readMessages", "u1", 1, &LOCAL), Ok(()));
        assert_eq!(l.check_ddp("joinRoom", "u2", 2, &LOCAL), Ok(()));
    }

    #[test]
    fn ddp_user_method_spans_connections() {
        let l = Limiters::new(Switches::new(true));
        // 20 per user+method: two connections of 10 each use it up.
        for conn in [1, 2] {
            for _ in 0..10 {
                assert_eq!(l.check_ddp("joinRoom", "u1", conn, &LOCAL), Ok(()));
            }
        }
        assert!(l.check_ddp("joinRoom", "u1", 3, &LOCAL).is_err());
        assert!(
            l.check_ddp("joinRoom", "", 4, &LOCAL).is_ok(),
            "anonymous: no user rule"
        );
    }

    #[test]
    fn ddp_streams_get_four_times_the_count() {
        let l = Limiters::new(Switches::new(true));
        for _ in 0..40 {
            assert_eq!(
                l.check_ddp("sub:stream-room-messages", "u1", 1, &LOCAL),
                Ok(())
            );
        }
        let wait = l
            .check_ddp("sub:stream-room-messages", "u1", 1, &LOCAL)
            .unwrap_err();
        assert!(wait > 10_000 && wait <= 40_000, "{wait}");
    }

    #[test]
    fn send_message_has_its_own_rule() {
        let l = Limiters::new(Switches::new(true));
        for _ in 0..5 {
            assert_eq!(l.check_ddp("sendMessage", "u1", 1, &LOCAL), Ok(()));
        }
        let wait = l.check_ddp("sendMessage", "u1", 1, &LOCAL).unwrap_err();
        assert!(wait <= 1_000, "{wait}");
        // Per user: u2 on the same connection is still allowed.
        assert_eq!(l.check_ddp("sendMessage", "u2", 1, &LOCAL), Ok(()));
    }

    #[test]
    fn login_five_per_connection() {
        let l = Limiters::new(Switches::new(true));
        for _ in 0..5 {
            assert_eq!(l.check_ddp("login", "", 9, &LOCAL), Ok(()));
        }
        assert!(l.check_ddp("login", "", 9, &LOCAL).is_err());
        assert_eq!(l.check_ddp("login", "", 10, &LOCAL), Ok(()));
    }

    #[test]
    fn connection_allows_six_hundred_per_minute() {
        let l = Limiters::new(Switches::new(true));
        for i in 0..600 {
            // A fresh method name each time keeps the per-method rules quiet.
            assert_eq!(l.check_ddp(&format!("m{i}"), "", 1, &LOCAL), Ok(()), "{i}");
        }
        assert!(l.check_ddp("m600", "", 1, &LOCAL).is_err());
    }

    #[test]
    fn ip_rule_exempts_only_loopback_one() {
        let mut rule = Rule::new(2, 1_000, 0);
        let l = Limiters::new(Switches::new(true));
        let k = l.hasher.hash_one(OTHER);
        assert!(rule.hit(k, 0).allowed && rule.hit(k, 1).allowed);
        assert!(!rule.hit(k, 2).allowed);
        // 127.0.0.1 and its IPv4-mapped form skip the IP rule entirely.
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(canonical_ip(&mapped), LOCAL);
        l.check_ddp("x", "", 1, &LOCAL).unwrap();
        assert_eq!(lock(&l.ddp).ip.counters.len(), 0);
        l.check_ddp("x", "", 1, &OTHER).unwrap();
        assert_eq!(lock(&l.ddp).ip.counters.len(), 1);
    }

    #[test]
    fn windows_reset_and_drop_old_keys() {
        let mut rule = Rule::new(1, 1_000, 0);
        for key in 0..10_000 {
            assert!(rule.hit(key, 500).allowed);
        }
        assert!(!rule.hit(7, 999).allowed);
        assert_eq!(rule.hit(7, 999).time_to_reset_ms, 1);
        // The next window starts empty: memory is bounded by one window's keys.
        let v = rule.hit(7, 1_000);
        assert!(v.allowed);
        assert_eq!(v.time_to_reset_ms, 1_000);
        assert_eq!(rule.counters.len(), 1);
    }

    #[test]
    fn rest_routes_are_capped() {
        let l = Limiters::new(Switches::new(true));
        for i in 0..(MAX_REST_ROUTES + 50) {
            let _ = l.check_rest(&format!("route{i}"), &LOCAL);
        }
        assert_eq!(lock(&l.rest).len(), MAX_REST_ROUTES + 1);
        assert!(l.tracked_keys() <= MAX_REST_ROUTES + 1);
    }

    #[test]
    fn switches_turn_single_rules_off_while_running() {
        let switches = Switches::new(true);
        let l = Limiters::new(switches.clone());
        assert!(switches.set("DDP_Rate_Limit_Connection_By_Method_Enabled", false));
        // 20 per user+method still counts; 10 per connection+method no longer.
        for _ in 0..20 {
            assert_eq!(l.check_ddp("joinRoom", "u1", 1, &LOCAL), Ok(()));
        }
        assert!(l.check_ddp("joinRoom", "u1", 1, &LOCAL).is_err());
        assert!(switches.set("DDP_Rate_Limit_User_By_Method_Enabled", false));
        assert_eq!(l.check_ddp("joinRoom", "u1", 1, &LOCAL), Ok(()));
        // sendMessage's own rule has no switch.
        for i in 0..6 {
            let r = l.check_ddp("sendMessage", "u2", 2, &LOCAL);
            assert_eq!(r.is_ok(), i < 5, "call {i}");
        }
        assert!(switches.set("API_Enable_Rate_Limiter", false));
        assert!(!l.rest_on());
        assert_eq!(switches.get("API_Enable_Rate_Limiter"), Some(false));
        assert_eq!(switches.get("DDP_Rate_Limit_IP_Enabled"), Some(true));
        assert_eq!(switches.get("Accounts_RegistrationForm"), None);
        assert!(!switches.set("Accounts_RegistrationForm", false));
        for _ in 0..20 {
            assert_eq!(l.check_rest("login", &LOCAL), Ok(RateInfo::unlimited()));
        }
    }
}
