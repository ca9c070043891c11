//! REST: `/api/info` and `/api/v1/<endpoint>` with Rocket.Chat's success and
//! error shapes (7.x by default, 8.x when `api_version` is 8).
//!
//! Every `/api/v1/` endpoint is one line of [`ENDPOINTS`]: its method, path,
//! whether it needs a login and its handler. The dispatcher, the rate-limit
//! and cost names and the 404 for anything else all come from that table.
//! Handlers live by area: [`auth`], [`users`], [`rooms`], [`messages`] and
//! [`method_call`]; [`reply`] has the error and response shapes.

mod auth;
mod messages;
mod method_call;
mod reply;
mod rooms;
mod settings;
mod users;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::errors::MeteorError;
use super::ids;
use super::methods::Caller;
use super::ratelimit::{RateInfo, RateLimited};
use super::state::{Instance, Shared};
use super::store::UserIx;
pub use reply::RestError;
use reply::{respond, respond_result};

/// Largest REST body accepted.
const MAX_BODY: usize = 1 << 20;

/// A GET's query parameters.
type Params = HashMap<String, String>;
/// A POST's JSON body (empty = `{}`).
type Fields = Map<String, Value>;
/// What a handler answers; `success: true` is added to an `Ok` object.
type Reply = Result<Value, RestError>;

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    /// `X-User-Id` + `X-Auth-Token` required (401 without).
    User,
    /// Anonymous callers too; a valid login is still read.
    Anyone,
}

/// An endpoint's method, input and code.
#[derive(Clone, Copy)]
enum Handler {
    /// GET, reading the query string.
    Get(fn(&Ctx, &Params) -> Reply),
    /// POST, reading the JSON body.
    Post(fn(&Ctx, &Fields) -> Reply),
    /// POST of a DDP method named by the path's parameter. Limited by the
    /// DDP method limiter instead of the per-route REST one.
    Method(fn(&Ctx, &Fields) -> Reply),
}

/// One `/api/v1/` endpoint.
#[derive(Clone, Copy)]
struct Endpoint {
    /// After `/api/v1/`: a name, or a name and a parameter (`settings/:_id`;
    /// a [`Handler::Method`] path ends in `/:method`), which the handler
    /// reads as [`Ctx::param`].
    path: &'static str,
    auth: Auth,
    handler: Handler,
}

impl Endpoint {
    const fn get(path: &'static str, auth: Auth, f: fn(&Ctx, &Params) -> Reply) -> Endpoint {
        Endpoint {
            path,
            auth,
            handler: Handler::Get(f),
        }
    }

    const fn post(path: &'static str, auth: Auth, f: fn(&Ctx, &Fields) -> Reply) -> Endpoint {
        Endpoint {
            path,
            auth,
            handler: Handler::Post(f),
        }
    }

    const fn method(path: &'static str, auth: Auth, f: fn(&Ctx, &Fields) -> Reply) -> Endpoint {
        Endpoint {
            path,
            auth,
            handler: Handler::Method(f),
        }
    }

    /// GET for [`Handler::Get`], POST for the others.
    fn verb(&self) -> Method {
        match self.handler {
            Handler::Get(_) => Method::GET,
            Handler::Post(_) | Handler::Method(_) => Method::POST,
        }
    }

    /// The request's method and endpoint, if this entry serves them: the
    /// path parameter (the rest of the endpoint, which may hold `/`), `""`
    /// for a path without one.
    fn matches<'e>(&self, method: &Method, endpoint: &'e str) -> Option<&'e str> {
        if *method != self.verb() {
            return None;
        }
        match self.path.split_once("/:") {
            Some((name, _)) => endpoint
                .strip_prefix(name)?
                .strip_prefix('/')
                .filter(|p| !p.is_empty()),
            None => (endpoint == self.path).then_some(""),
        }
    }

    /// The path up to its parameter: the operation name of `serve --cost`
    /// (`method.call`; the method then also burns its own name) and the
    /// REST limiter's route.
    fn op(&self) -> &'static str {
        self.path.split('/').next().unwrap_or(self.path)
    }

    /// Counted by the per-route REST limiter (method calls go through the
    /// DDP method limiter inside their handler).
    fn rest_limited(&self) -> bool {
        !matches!(self.handler, Handler::Method(_))
    }
}

use Auth::{Anyone, User};

/// Every `/api/v1/` endpoint; anything else is 404.
static ENDPOINTS: &[Endpoint] = &[
    Endpoint::post("login", Anyone, auth::login),
    Endpoint::post("logout", User, auth::logout),
    Endpoint::get("logout", User, auth::logout_get),
    Endpoint::get("me", User, users::me),
    Endpoint::post("users.register", Anyone, users::register),
    Endpoint::post("users.create", User, users::create),
    Endpoint::post("users.setStatus", User, users::set_status),
    Endpoint::get("users.info", User, users::info),
    Endpoint::post("users.delete", User, users::delete),
    Endpoint::get("settings.public", Anyone, settings_public),
    Endpoint::get("settings/:_id", User, settings::get),
    Endpoint::post("settings/:_id", User, settings::set),
    Endpoint::post("channels.create", User, rooms::create),
    Endpoint::post("channels.join", User, rooms::join),
    Endpoint::get("channels.info", User, rooms::info),
    Endpoint::post("channels.invite", User, rooms::invite),
    Endpoint::post("channels.delete", User, rooms::delete),
    Endpoint::get("channels.members", User, rooms::members),
    Endpoint::get("rooms.get", User, rooms::rooms_get),
    Endpoint::get("subscriptions.get", User, rooms::subscriptions_get),
    Endpoint::post("subscriptions.read", User, rooms::read),
    Endpoint::post("chat.postMessage", User, messages::post_message),
    Endpoint::post("chat.sendMessage", User, messages::send_message),
    Endpoint::get("channels.history", User, messages::history),
    Endpoint::get("channels.messages", User, messages::messages),
    Endpoint::method("method.call/:method", User, method_call::call),
    Endpoint::method("method.callAnon/:method", Anyone, method_call::call_anon),
];

/// The entry serving `method` + `endpoint`, and its method name (if any).
fn lookup<'e>(method: &Method, endpoint: &'e str) -> Option<(&'static Endpoint, &'e str)> {
    ENDPOINTS
        .iter()
        .find_map(|e| Some((e, e.matches(method, endpoint)?)))
}

/// Stall, latency, injected errors and the global rate-limit fault.
async fn faults_gate(inst: &Instance) -> Option<Response> {
    let faults = &inst.shared.faults;
    faults.gate().await;
    if faults.rate_limited() {
        let limited = RateLimited::new(0, faults.rate_limit_reset_ms());
        return Some(respond(
            inst,
            StatusCode::TOO_MANY_REQUESTS,
            &limited.body(),
            None,
        ));
    }
    if let Some(code) = faults.injected_error() {
        let (status, body) = RestError::Status(code).to_response(inst.shared.v8());
        return Some(respond(inst, status, &body, None));
    }
    None
}

/// `GET settings.public?_id=A,B`: the public settings, all or those named.
fn settings_public(ctx: &Ctx, q: &Params) -> Reply {
    let wanted: Option<Vec<&str>> = q
        .get("_id")
        .map(|ids| ids.split(',').map(str::trim).collect());
    let settings: Vec<Value> = super::methods::public_settings(ctx.shared())
        .into_iter()
        .filter(|s| {
            let id = s.get("_id").and_then(Value::as_str).unwrap_or_default();
            wanted.as_ref().is_none_or(|w| w.contains(&id))
        })
        .collect();
    let n = settings.len();
    Ok(json!({ "settings": settings, "count": n, "offset": 0, "total": n }))
}

/// `GET /api/info`.
pub async fn info(State(inst): State<Arc<Instance>>) -> Response {
    let start = Instant::now();
    let resp = serve_info(&inst).await;
    if let Some(m) = &inst.shared.metrics {
        m.observe_rest("GET", "/api/info", resp.status().as_u16(), start.elapsed());
    }
    resp
}

async fn serve_info(inst: &Instance) -> Response {
    if let Some(r) = faults_gate(inst).await {
        return r;
    }
    inst.shared.cost.burn("info");
    let version = if inst.shared.v8() { "8.0" } else { "7.10" };
    let body = json!({
        "version": version,
        "minimumClientVersions": { "desktop": "3.9.6", "mobile": "4.39.0" },
    });
    respond_result(inst, Ok(body), None)
}

/// Anything unrouted.
pub async fn not_found(State(inst): State<Arc<Instance>>) -> Response {
    respond_result(&inst, Err(RestError::NotFound), None)
}

/// `/api/v1/<endpoint>`, observed in `rocketchat_rest_api`.
pub async fn endpoint(
    State(inst): State<Arc<Instance>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(endpoint): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let start = Instant::now();
    let metrics = inst.shared.metrics.clone();
    // Rocket.Chat labels by route pattern (`/api/v1/settings/:_id`).
    let entrypoint = match lookup(&method, &endpoint) {
        Some((entry, _)) => format!("/api/v1/{}", entry.path),
        None => format!("/api/v1/{}", endpoint.split('/').next().unwrap_or_default()),
    };
    let resp = serve_endpoint(inst, peer, endpoint, &method, &uri, &headers, body).await;
    if let Some(m) = metrics {
        m.observe_rest(
            method.as_str(),
            &entrypoint,
            resp.status().as_u16(),
            start.elapsed(),
        );
    }
    resp
}

async fn serve_endpoint(
    inst: Arc<Instance>,
    peer: SocketAddr,
    endpoint: String,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = faults_gate(&inst).await {
        return r;
    }
    let Some((entry, param)) = lookup(method, &endpoint) else {
        return respond_result(&inst, Err(RestError::NotFound), None);
    };
    let shared = &inst.shared;
    let user = match authenticate(shared, headers) {
        Some(u) => Some(u),
        None if entry.auth == Auth::User => {
            return respond_result(&inst, Err(RestError::NotLoggedIn), None);
        }
        None => None,
    };
    // As Rocket.Chat: counted after authentication, per route and client
    // IP, unless the caller's role has `api-bypass-rate-limit`.
    let bypass = || user.is_some_and(|u| shared.store.read().user(u).bypasses_rate_limit());
    let rate = if !entry.rest_limited() || !inst.limiters.rest_on() || bypass() {
        None
    } else {
        match inst.limiters.check_rest(entry.op(), &peer.ip()) {
            Ok(info) => Some(info),
            Err(limited) => {
                return respond(
                    &inst,
                    StatusCode::TOO_MANY_REQUESTS,
                    &limited.body(),
                    Some(RateInfo {
                        limit: limited.limit,
                        remaining: limited.remaining,
                        reset_ms: limited.reset_ms,
                    }),
                );
            }
        }
    };
    shared.cost.burn(entry.op());
    let ctx = Ctx {
        inst: &inst,
        user,
        headers,
        peer,
        param,
    };
    let result = match entry.handler {
        Handler::Get(f) => match Query::<Params>::try_from_uri(uri) {
            Ok(Query(q)) => f(&ctx, &q),
            Err(e) => Err(RestError::Meteor(MeteorError::invalid_params(
                e.body_text(),
            ))),
        },
        Handler::Post(f) | Handler::Method(f) => parse_body(&body).and_then(|b| f(&ctx, &b)),
    };
    respond_result(&inst, result, rate)
}

/// A POST body: empty = `{}`; otherwise a JSON object.
fn parse_body(body: &Bytes) -> Result<Fields, RestError> {
    if body.len() > MAX_BODY {
        return Err(RestError::Failure(format!(
            "Request body larger than {MAX_BODY} bytes"
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(RestError::Meteor(MeteorError::invalid_params(
            "must be object",
        ))),
        Err(e) => Err(RestError::Failure(format!("Invalid JSON body: {e}"))),
    }
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<UserIx> {
    let uid = headers.get("x-user-id")?.to_str().ok()?;
    let token = headers.get("x-auth-token")?.to_str().ok()?;
    shared.store.read().authenticate(uid, token, ids::now_ms())
}

fn required<'a>(body: &'a Fields, key: &str) -> Result<&'a str, RestError> {
    body.get(key).and_then(Value::as_str).ok_or_else(|| {
        RestError::Meteor(MeteorError::invalid_params(format!(
            "must have required property '{key}'"
        )))
    })
}

fn query_usize(q: &Params, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `offset` and `count` of a paged list (count 50 by default, at most 1000).
fn paging(q: &Params) -> (usize, usize) {
    (
        query_usize(q, "offset", 0),
        query_usize(q, "count", 50).min(1000),
    )
}

/// What a handler knows of its request.
struct Ctx<'a> {
    inst: &'a Instance,
    user: Option<UserIx>,
    headers: &'a HeaderMap,
    peer: SocketAddr,
    /// The path parameter (`sendMessage` of `method.call/sendMessage`).
    param: &'a str,
}

impl Ctx<'_> {
    fn shared(&self) -> &Shared {
        &self.inst.shared
    }

    fn caller(&self) -> Caller {
        Caller {
            user: self.user,
            conn: None,
        }
    }

    /// The logged-in caller.
    fn user(&self) -> Result<UserIx, RestError> {
        self.user.ok_or(RestError::NotLoggedIn)
    }

    /// The caller's `X-Auth-Token`, if readable.
    fn token(&self) -> Option<&str> {
        self.headers
            .get("x-auth-token")
            .and_then(|t| t.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_served_once() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in &ENDPOINTS[i + 1..] {
                let twice = a.verb() == b.verb() && a.path == b.path;
                assert!(!twice, "{} {} twice", a.verb(), a.path);
            }
        }
    }

    #[test]
    fn paths_are_names_with_at_most_one_parameter() {
        for e in ENDPOINTS {
            let is_method = matches!(e.handler, Handler::Method(_));
            if is_method {
                assert!(e.path.ends_with("/:method"), "{}", e.path);
            }
            let slashes = e.path.matches('/').count();
            assert!(slashes <= 1, "{}", e.path);
            assert_eq!(slashes == 1, e.path.contains("/:"), "{}", e.path);
            assert!(!e.path.starts_with('/'), "{}", e.path);
        }
    }

    #[test]
    fn lookup_follows_the_table() {
        fn hit<'e>(m: &Method, p: &'e str) -> Option<(&'static str, &'e str)> {
            lookup(m, p).map(|(e, name)| (e.path, name))
        }
        assert_eq!(hit(&Method::POST, "login"), Some(("login", "")));
        assert_eq!(hit(&Method::GET, "login"), None);
        assert_eq!(hit(&Method::GET, "logout"), Some(("logout", "")));
        assert_eq!(hit(&Method::POST, "logout"), Some(("logout", "")));
        assert_eq!(hit(&Method::HEAD, "me"), None);
        assert_eq!(hit(&Method::POST, "me"), None);
        assert_eq!(
            hit(&Method::POST, "method.call/sendMessage"),
            Some(("method.call/:method", "sendMessage"))
        );
        assert_eq!(
            hit(&Method::POST, "method.callAnon/a/b"),
            Some(("method.callAnon/:method", "a/b"))
        );
        assert_eq!(hit(&Method::POST, "method.call"), None);
        assert_eq!(hit(&Method::GET, "method.call/x"), None);
        assert_eq!(hit(&Method::POST, "method.callx/y"), None);
        assert_eq!(
            hit(&Method::GET, "settings/API_Enable_Rate_Limiter"),
            Some(("settings/:_id", "API_Enable_Rate_Limiter"))
        );
        assert_eq!(hit(&Method::GET, "settings/"), None);
        assert_eq!(hit(&Method::GET, "settings"), None);
        assert_eq!(hit(&Method::GET, "nope"), None);
    }

    /// `serve --cost` documents every operation name it can be given.
    #[test]
    fn cost_docs_name_every_endpoint() {
        let docs = include_str!("../cost.rs");
        for e in ENDPOINTS {
            assert!(docs.contains(&format!("`{}`", e.op())), "{}", e.op());
        }
    }
}
