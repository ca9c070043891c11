//! REST: `/api/info` and `/api/v1/<endpoint>` with Rocket.Chat's success and
//! error shapes (7.x by default, 8.x when `api_version` is 8).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::errors::MeteorError;
use super::ids;
use super::methods::{self, Caller, Effect};
use super::ratelimit::{RateInfo, RateLimited};
use super::shapes::{self, Dates};
use super::state::{Instance, Shared};
use super::store::{NewUser, Status, UserIx};

/// Largest REST body accepted.
const MAX_BODY: usize = 1 << 20;

/// Why a REST call failed, mapped onto Rocket.Chat's shapes.
#[derive(Debug)]
pub enum RestError {
    /// Missing or bad `X-User-Id`/`X-Auth-Token` (401).
    NotLoggedIn,
    /// Wrong credentials on `/login` (401).
    LoginFailed,
    /// A thrown Meteor.Error (400, or 403/401 for `error-unauthorized`).
    Meteor(MeteorError),
    /// `API.v1.failure('text')` (400).
    Failure(String),
    /// Missing permission (403).
    Forbidden,
    NotFound,
    /// An HTTP status with Rocket.Chat's plain body for it (injected faults).
    Status(u16),
}

impl From<MeteorError> for RestError {
    fn from(e: MeteorError) -> RestError {
        RestError::Meteor(e)
    }
}

impl RestError {
    fn to_response(&self, v8: bool) -> (StatusCode, Value) {
        const LOGGED_OUT: &str = "You must be logged in to do this.";
        let fail = |s: &str| json!({ "success": false, "error": s });
        match self {
            RestError::NotLoggedIn if v8 => (StatusCode::UNAUTHORIZED, fail(LOGGED_OUT)),
            RestError::NotLoggedIn => (
                StatusCode::UNAUTHORIZED,
                json!({ "success": false, "error": LOGGED_OUT, "status": "error", "message": LOGGED_OUT }),
            ),
            RestError::LoginFailed if v8 => (StatusCode::UNAUTHORIZED, fail("unauthorized")),
            RestError::LoginFailed => (
                StatusCode::UNAUTHORIZED,
                json!({ "success": false, "error": "Unauthorized", "status": "error", "message": "Unauthorized" }),
            ),
            RestError::Forbidden if v8 => (
                StatusCode::FORBIDDEN,
                json!({ "success": false,
                        "error": "User does not have the permissions required for this action [error-forbidden]",
                        "errorType": "error-forbidden" }),
            ),
            RestError::Forbidden => (
                StatusCode::FORBIDDEN,
                fail(
                    "User does not have the permissions required for this action [error-unauthorized]",
                ),
            ),
            RestError::Meteor(e) => {
                let status = match e.code().as_str() {
                    "error-unauthorized" if v8 => StatusCode::UNAUTHORIZED,
                    "error-unauthorized" => StatusCode::FORBIDDEN,
                    _ => StatusCode::BAD_REQUEST,
                };
                let mut body =
                    json!({ "success": false, "error": e.message(), "errorType": e.code() });
                if let Some(d) = &e.details {
                    body["details"] = d.clone();
                }
                (status, body)
            }
            RestError::Failure(text) => (StatusCode::BAD_REQUEST, fail(text)),
            RestError::NotFound => (StatusCode::NOT_FOUND, fail("Resource not found")),
            RestError::Status(code) => {
                let status =
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let text = match *code {
                    500 => "Internal server error",
                    503 => "Service Unavailable",
                    404 => "Resource not found",
                    401 => LOGGED_OUT,
                    _ => status.canonical_reason().unwrap_or("Error"),
                };
                (status, fail(text))
            }
        }
    }
}

/// A JSON response: `Content-Type` exactly `application/json`, plus `x-instance-id`.
fn respond(inst: &Instance, status: StatusCode, body: &Value, rate: Option<RateInfo>) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&inst.id) {
        h.insert("x-instance-id", v);
    }
    if let Some(r) = rate {
        r.apply_headers(h);
    }
    resp
}

fn respond_result(
    inst: &Instance,
    result: Result<Value, RestError>,
    rate: Option<RateInfo>,
) -> Response {
    match result {
        Ok(mut body) => {
            if let Value::Object(m) = &mut body {
                m.insert("success".into(), Value::Bool(true));
            }
            respond(inst, StatusCode::OK, &body, rate)
        }
        Err(e) => {
            let (status, body) = e.to_response(inst.shared.v8());
            respond(inst, status, &body, rate)
        }
    }
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

/// Endpoint table: (name, needs auth).
fn route(method: &Method, endpoint: &str) -> Option<bool> {
    let post = *method == Method::POST;
    let get = *method == Method::GET;
    Some(match endpoint {
        "login" if post => false,
        "users.register" if post => false,
        "logout" if post || get => true,
        "me" if get => true,
        "users.create" | "users.setStatus" | "channels.create" | "channels.join"
        | "chat.postMessage" | "chat.sendMessage" | "subscriptions.read"
            if post =>
        {
            true
        }
        "channels.history" | "channels.messages" | "channels.info" | "channels.members"
        | "rooms.get" | "subscriptions.get"
            if get =>
        {
            true
        }
        e if post && e.starts_with("method.call/") => true,
        e if post && e.starts_with("method.callAnon/") => false,
        _ => return None,
    })
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
    let entrypoint = match endpoint.split_once('/') {
        Some((call, _)) => format!("/api/v1/{call}/:method"),
        None => format!("/api/v1/{endpoint}"),
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
    let Some(needs_auth) = route(method, &endpoint) else {
        return respond_result(&inst, Err(RestError::NotFound), None);
    };
    let shared = &inst.shared;
    let is_method_call = endpoint.starts_with("method.call");
    let rate = if is_method_call || !inst.limiters.enabled() {
        None
    } else {
        match inst.limiters.check_rest(&endpoint, &peer.ip()) {
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
    let op = endpoint.split('/').next().unwrap_or(&endpoint);
    shared.cost.burn(op);
    let user = match authenticate(shared, headers) {
        Some(u) => Some(u),
        None if needs_auth => return respond_result(&inst, Err(RestError::NotLoggedIn), rate),
        None => None,
    };
    let ctx = Ctx {
        inst: &inst,
        user,
        headers,
        peer,
    };
    let result = if method == Method::GET {
        match Query::<HashMap<String, String>>::try_from_uri(uri) {
            Ok(Query(q)) => ctx.get(&endpoint, &q),
            Err(e) => Err(RestError::Meteor(MeteorError::invalid_params(
                e.body_text(),
            ))),
        }
    } else {
        match parse_body(&body) {
            Ok(b) => ctx.post(&endpoint, &b),
            Err(e) => Err(e),
        }
    };
    respond_result(&inst, result, rate)
}

/// A POST body: empty = `{}`; otherwise a JSON object.
fn parse_body(body: &Bytes) -> Result<Map<String, Value>, RestError> {
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

fn required<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a str, RestError> {
    body.get(key).and_then(Value::as_str).ok_or_else(|| {
        RestError::Meteor(MeteorError::invalid_params(format!(
            "must have required property '{key}'"
        )))
    })
}

fn query_usize(q: &HashMap<String, String>, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `offset` and `count` of a paged list (count 50 by default, at most 1000).
fn paging(q: &HashMap<String, String>) -> (usize, usize) {
    (
        query_usize(q, "offset", 0),
        query_usize(q, "count", 50).min(1000),
    )
}

struct Ctx<'a> {
    inst: &'a Instance,
    user: Option<UserIx>,
    headers: &'a HeaderMap,
    peer: SocketAddr,
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

    fn post(&self, endpoint: &str, body: &Map<String, Value>) -> Result<Value, RestError> {
        match endpoint {
            "login" => self.login(body),
            "logout" => self.logout(),
            "users.register" => self.register(body),
            "users.create" => self.create_user(body),
            "users.setStatus" => {
                let status = required(body, "status")?;
                let status = Status::parse(status).ok_or_else(|| {
                    RestError::Meteor(MeteorError::invalid_params(
                        "must be equal to one of the allowed values",
                    ))
                })?;
                let text = body.get("message").and_then(Value::as_str);
                methods::set_status(
                    self.shared(),
                    &self.caller(),
                    status,
                    text,
                    "users.setStatus",
                )?;
                Ok(json!({}))
            }
            "channels.create" => {
                let name = required(body, "name")?;
                let members: Vec<&str> = body
                    .get("members")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let ro = body
                    .get("readOnly")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let room = methods::create_channel(
                    self.shared(),
                    &self.caller(),
                    name,
                    &members,
                    ro,
                    "channels.create",
                )?;
                let d = self.shared().store.read();
                Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
            }
            "channels.join" => {
                let rid = self.room_id(body.get("roomId"), body.get("roomName"))?;
                let room =
                    methods::join_room(self.shared(), &self.caller(), &rid, "channels.join")?;
                let d = self.shared().store.read();
                Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
            }
            "chat.postMessage" => self.post_message(body),
            "chat.sendMessage" => {
                let Some(Value::Object(msg)) = body.get("message") else {
                    return Err(RestError::Meteor(MeteorError::invalid_params(
                        "The 'message' parameter must be provided",
                    )));
                };
                let mut msg = msg.clone();
                if !msg.contains_key("msg")
                    && let Some(t) = msg.get("text").cloned()
                {
                    msg.insert("msg".into(), t);
                }
                let user = self.user.ok_or(RestError::NotLoggedIn)?;
                let rid = msg.get("rid").and_then(Value::as_str).ok_or_else(|| {
                    RestError::Meteor(MeteorError::invalid_params(
                        "must have required property 'rid'",
                    ))
                })?;
                let text = msg.get("msg").and_then(Value::as_str).unwrap_or("");
                let id = msg.get("_id").and_then(Value::as_str);
                let tmid = msg.get("tmid").and_then(Value::as_str);
                let (_, m) = methods::post(self.shared(), user, rid, id, text, tmid, Dates::Iso)?;
                Ok(json!({ "message": m }))
            }
            "subscriptions.read" => {
                let rid = body
                    .get("rid")
                    .or_else(|| body.get("roomId"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        RestError::Meteor(MeteorError::invalid_params(
                            "must have required property 'rid'",
                        ))
                    })?;
                methods::read_messages(self.shared(), &self.caller(), rid, "subscriptions.read")?;
                Ok(json!({}))
            }
            e => match e.split_once('/') {
                Some(("method.call", m)) => self.method_call(m, body, false),
                Some(("method.callAnon", m)) => self.method_call(m, body, true),
                _ => Err(RestError::NotFound),
            },
        }
    }

    fn get(&self, endpoint: &str, q: &HashMap<String, String>) -> Result<Value, RestError> {
        let user = self.user.ok_or(RestError::NotLoggedIn)?;
        let shared = self.shared();
        match endpoint {
            "me" => {
                let d = shared.store.read();
                Ok(shapes::own_user(d.user(user), Dates::Iso))
            }
            "logout" => self.logout(),
            "channels.info" => {
                let rid = self.query_room_id(q)?;
                let d = shared.store.read();
                let room = d.room_by_id(&rid).ok_or_else(|| {
                    MeteorError::new(
                        "error-room-not-found",
                        "The required \"roomId\" or \"roomName\" param provided does not match any channel",
                    )
                })?;
                Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
            }
            "channels.members" => {
                let rid = self.query_room_id(q)?;
                let (offset, count) = paging(q);
                let d = shared.store.read();
                let room = d
                    .room_by_id(&rid)
                    .ok_or_else(|| MeteorError::invalid_room("channels.members"))?;
                let r = d.room(room);
                // Rocket.Chat sorts by username; so do we (and pages stay stable).
                let mut all: Vec<_> = r.members.keys().map(|&u| d.user(u)).collect();
                all.sort_unstable_by(|a, b| a.username.cmp(&b.username));
                let members: Vec<Value> = all
                    .iter()
                    .skip(offset)
                    .take(count)
                    .map(|u| {
                        json!({"_id": u.id, "username": u.username, "name": u.name,
                            "status": u.status.as_str()})
                    })
                    .collect();
                Ok(
                    json!({ "count": members.len(), "members": members, "offset": offset,
                    "total": all.len() }),
                )
            }
            "channels.history" => {
                let rid = self.query_room_id(q)?;
                let query = super::store::HistoryQuery {
                    latest_ms: q.get("latest").and_then(|s| ids::parse_iso(s)),
                    oldest_ms: q.get("oldest").and_then(|s| ids::parse_iso(s)),
                    inclusive: q.get("inclusive").is_some_and(|v| v == "true"),
                    offset: query_usize(q, "offset", 0),
                    count: query_usize(q, "count", 20).min(1000),
                };
                let d = shared.store.read();
                let room = d
                    .room_by_id(&rid)
                    .ok_or_else(|| MeteorError::invalid_room("channels.history"))?;
                let r = d.room(room);
                let messages: Vec<Value> = r
                    .history(&query)
                    .into_iter()
                    .map(|m| shapes::message(&d, r, m, Dates::Iso))
                    .collect();
                Ok(json!({ "messages": messages }))
            }
            "channels.messages" => {
                let rid = self.query_room_id(q)?;
                let (offset, count) = paging(q);
                let d = shared.store.read();
                let room = d
                    .room_by_id(&rid)
                    .ok_or_else(|| MeteorError::invalid_room("channels.messages"))?;
                let r = d.room(room);
                let ascending = q
                    .get("sort")
                    .is_some_and(|s| s.replace(' ', "").contains("\"ts\":1"));
                let total = r.messages.len();
                let pick: Vec<Value> = if ascending {
                    r.messages
                        .iter()
                        .skip(offset)
                        .take(count)
                        .map(|m| shapes::message(&d, r, m, Dates::Iso))
                        .collect()
                } else {
                    r.messages
                        .iter()
                        .rev()
                        .skip(offset)
                        .take(count)
                        .map(|m| shapes::message(&d, r, m, Dates::Iso))
                        .collect()
                };
                Ok(json!({ "messages": pick, "count": 0, "offset": offset, "total": total })).map(
                    |mut v| {
                        v["count"] = json!(v["messages"].as_array().map_or(0, Vec::len));
                        v
                    },
                )
            }
            "rooms.get" | "subscriptions.get" => {
                let since = match q.get("updatedSince") {
                    Some(s) => Some(ids::parse_iso(s).ok_or_else(|| {
                        RestError::Meteor(MeteorError::new(
                            "error-roomId-param-invalid",
                            "The \"updatedSince\" query parameter must be a valid date.",
                        ))
                    })?),
                    None => None,
                };
                let d = shared.store.read();
                let update = if endpoint == "rooms.get" {
                    shapes::user_rooms(&d, user, since, Dates::Iso)
                } else {
                    shapes::user_subscriptions(&d, user, since, Dates::Iso)
                };
                Ok(json!({ "update": update, "remove": [] }))
            }
            _ => Err(RestError::NotFound),
        }
    }

    /// A room id from the `roomId` or `roomName` query parameter.
    fn query_room_id(&self, q: &HashMap<String, String>) -> Result<String, RestError> {
        let id = q.get("roomId").map(|s| json!(s));
        let name = q.get("roomName").map(|s| json!(s));
        self.room_id(id.as_ref(), name.as_ref())
    }

    /// A room id from `roomId` or `roomName`.
    fn room_id(&self, id: Option<&Value>, name: Option<&Value>) -> Result<String, RestError> {
        if let Some(id) = id.and_then(Value::as_str) {
            return Ok(id.to_string());
        }
        if let Some(name) = name.and_then(Value::as_str) {
            let d = self.shared().store.read();
            return d
                .room_by_name(name)
                .map(|r| d.room(r).id.clone())
                .ok_or_else(|| RestError::Meteor(MeteorError::new("error-room-not-found", "The required \"roomId\" or \"roomName\" param provided does not match any channel")));
        }
        Err(RestError::Meteor(MeteorError::new(
            "error-roomid-param-not-provided",
            "The parameter \"roomId\" or \"roomName\" is required",
        )))
    }

    fn login(&self, body: &Map<String, Value>) -> Result<Value, RestError> {
        let now = ids::now_ms();
        let shared = self.shared();
        let (user, token) = if let Some(Value::String(token)) = body.get("resume") {
            let d = shared.store.read();
            let (user, _) = d.resume(token, now).ok_or(RestError::LoginFailed)?;
            (user, token.clone())
        } else {
            let (sel, hash) = methods::password_login_args(body).ok_or(RestError::LoginFailed)?;
            let mut d = shared.store.write();
            let user = d
                .check_password(&sel, &hash)
                .ok_or(RestError::LoginFailed)?;
            (user, d.issue_token(user, now).token)
        };
        let d = shared.store.read();
        let u = d.user(user);
        Ok(json!({
            "status": "success",
            "data": { "userId": u.id, "authToken": token, "me": shapes::own_user(u, Dates::Iso) },
        }))
    }

    fn logout(&self) -> Result<Value, RestError> {
        if let Some(token) = self
            .headers
            .get("x-auth-token")
            .and_then(|t| t.to_str().ok())
        {
            self.shared().store.write().revoke_token(token);
        }
        Ok(json!({ "status": "success", "data": { "message": "You've been logged out!" } }))
    }

    fn new_user(
        &self,
        body: &Map<String, Value>,
        pass_key: &str,
        roles: &[&str],
    ) -> Result<Value, RestError> {
        let username = required(body, "username")?;
        let email = required(body, "email")?;
        let pass = required(body, pass_key)?;
        let name = body.get("name").and_then(Value::as_str).unwrap_or(username);
        let mut d = self.shared().store.write();
        let user = d.create_user(
            &NewUser {
                username,
                name,
                email,
                password: ids::password_hash(&ids::password_digest(pass)),
                roles,
            },
            ids::now_ms(),
        )?;
        Ok(json!({ "user": shapes::new_user(d.user(user)) }))
    }

    fn register(&self, body: &Map<String, Value>) -> Result<Value, RestError> {
        if body.get("name").and_then(Value::as_str).is_none() {
            return Err(RestError::Meteor(MeteorError::invalid_params(
                "must have required property 'name'",
            )));
        }
        self.new_user(body, "pass", &["user"])
    }

    fn create_user(&self, body: &Map<String, Value>) -> Result<Value, RestError> {
        let user = self.user.ok_or(RestError::NotLoggedIn)?;
        if !self.shared().store.read().user(user).is_admin() {
            return Err(RestError::Forbidden);
        }
        let roles: Vec<&str> = body
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec!["user"]);
        self.new_user(body, "password", &roles)
    }

    fn post_message(&self, body: &Map<String, Value>) -> Result<Value, RestError> {
        let user = self.user.ok_or(RestError::NotLoggedIn)?;
        let invalid_channel = || {
            RestError::Meteor(MeteorError {
                error: json!("invalid-channel"),
                reason: None,
                details: None,
            })
        };
        let rid = if let Some(rid) = body.get("roomId").and_then(Value::as_str) {
            rid.to_string()
        } else {
            let channel = body
                .get("channel")
                .and_then(Value::as_str)
                .ok_or_else(invalid_channel)?;
            let d = self.shared().store.read();
            let room = match channel.strip_prefix('#') {
                Some(name) => d.room_by_name(name),
                None if channel.starts_with('@') => None,
                None => d.room_by_id(channel).or_else(|| d.room_by_name(channel)),
            };
            room.map(|r| d.room(r).id.clone())
                .ok_or_else(invalid_channel)?
        };
        let text = body
            .get("text")
            .or_else(|| body.get("msg"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let (name, message) =
            methods::post(self.shared(), user, &rid, None, text, None, Dates::Iso)?;
        let ts =
            ids::parse_iso(message["ts"].as_str().unwrap_or_default()).unwrap_or_else(ids::now_ms);
        Ok(json!({ "ts": ts, "channel": name, "message": message }))
    }

    /// `method.call/:method` and `method.callAnon/:method`: a DDP method
    /// message inside `{"message": "<EJSON>"}`; the DDP result (or error)
    /// comes back as a string inside `message`, with HTTP 200.
    fn method_call(
        &self,
        name: &str,
        body: &Map<String, Value>,
        anon: bool,
    ) -> Result<Value, RestError> {
        let text = required(body, "message")?;
        let msg: Value = serde_json::from_str(text)
            .map_err(|e| RestError::Failure(format!("Invalid message: {e}")))?;
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let params: Vec<Value> = match msg.get("params") {
            Some(Value::Array(a)) => a.clone(),
            None => Vec::new(),
            Some(_) => {
                return Err(RestError::Meteor(MeteorError::invalid_params(
                    "params must be an array",
                )));
            }
        };
        let shared = self.shared();
        let caller = Caller {
            user: if anon { None } else { self.user },
            conn: None,
        };
        let limited = if self.inst.limiters.enabled() {
            let d = shared.store.read();
            let uid = caller
                .user
                .map(|u| d.user(u).id.clone())
                .unwrap_or_default();
            drop(d);
            // RC keys the "connection" of a REST method call by its auth token.
            let conn = self.headers.get("x-auth-token").map_or(0, |t| {
                u64::from_le_bytes(
                    ids::token_hash(t.to_str().unwrap_or_default())[..8]
                        .try_into()
                        .unwrap_or_default(),
                )
            });
            self.inst
                .limiters
                .check_ddp(name, &uid, conn, &self.peer.ip())
                .err()
        } else {
            None
        };
        let reply = match limited {
            Some(ms) => {
                json!({ "msg": "result", "id": id, "error": MeteorError::too_many_requests(ms).to_json() })
            }
            None => {
                let start = Instant::now();
                shared.cost.burn(name);
                let outcome = methods::call(shared, &caller, name, &params);
                if let Some(m) = &shared.metrics {
                    m.observe_method(name, false, caller.user.is_some(), start.elapsed());
                }
                match outcome {
                    Ok(out) => {
                        if let (Effect::Logout, Some(t)) = (
                            &out.effect,
                            self.headers
                                .get("x-auth-token")
                                .and_then(|t| t.to_str().ok()),
                        ) {
                            shared.store.write().revoke_token(t);
                        }
                        let mut r = json!({ "msg": "result", "id": id });
                        if let Some(v) = out.result {
                            r["result"] = v;
                        }
                        r
                    }
                    Err(e) => json!({ "msg": "result", "id": id, "error": e.to_json() }),
                }
            }
        };
        Ok(json!({ "message": reply.to_string() }))
    }
}
