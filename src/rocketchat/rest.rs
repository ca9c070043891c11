//! Rocket.Chat's REST API (`/api/v1/...`) over HTTP/1.1 keep-alive
//! connections ([`super::http1`]).
//!
//! Every virtual user has its own [`Rest`] and so its own connections, as a
//! real browser would.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Method;
use http::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use url::Url;

use super::error::{meteor_error, rest_error_name};
use super::http1::{Http1, Origin, Outgoing, POOL_IDLE, RateHeaders};
use super::{ClientConfig, RcError, Session};

/// Status and body of a REST response (any status).
#[derive(Clone, Debug)]
pub struct RestResponse {
    pub status: u16,
    /// The `Date` header (1 s resolution), when the server sent one.
    pub date: Option<SystemTime>,
    /// `X-RateLimit-*`, when the route is rate limited for this caller.
    pub rate: Option<RateHeaders>,
    /// The raw body; parsed only when someone asks ([`RestResponse::json`]).
    pub body: Bytes,
}

impl RestResponse {
    /// The body as JSON; a non-JSON body is a `Value::String`, an empty one `Null`.
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// 2xx and not `"success": false`.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
            && self.json().get("success").and_then(Value::as_bool) != Some(false)
    }
}

/// REST client of one virtual user.
pub struct Rest {
    http: Http1,
    /// `http(s)://host:port`, for errors.
    origin: Arc<Origin>,
    /// The `Host` header.
    host: HeaderValue,
    /// Path of the base URL without its trailing slash (`""`, `/chat`).
    prefix: String,
    /// Extra headers of every request.
    headers: HeaderMap,
    /// Whether those include `Host` / `Content-Type` (which replace ours).
    sets_host: bool,
    sets_type: bool,
    timeout: Option<Duration>,
    session: Option<Session>,
    /// `X-User-Id` and `X-Auth-Token` of the session, built once.
    auth: Option<[HeaderValue; 2]>,
    /// Ids of `method.call` envelopes (any unique string does).
    call_seq: AtomicU64,
}

impl Rest {
    /// A client for the deployment at `base_url` (`http(s)://host:port[/prefix]`).
    /// Connects on the first request.
    pub fn new(base_url: &str, cfg: &ClientConfig) -> Result<Rest, RcError> {
        let url = Url::parse(base_url)
            .map_err(|e| RcError::Protocol(format!("invalid base URL `{base_url}`: {e}")))?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => {
                return Err(RcError::Protocol(format!(
                    "base URL `{base_url}` must start with http:// or https://"
                )));
            }
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(RcError::Protocol(format!(
                "base URL `{base_url}` has no host"
            )));
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let origin = Arc::new(Origin {
            https,
            host: host.to_owned(),
            port,
            url: format!("{}://{authority}", url.scheme()),
        });
        let host_value = HeaderValue::from_str(&authority)
            .map_err(|_| RcError::Protocol(format!("base URL `{base_url}`: invalid host")))?;
        let headers = header_map(&cfg.headers)?;
        Ok(Rest {
            http: Http1::new(origin.clone(), cfg)?,
            origin,
            host: host_value,
            prefix: url.path().trim_end_matches('/').to_owned(),
            sets_host: headers.contains_key(HOST),
            sets_type: headers.contains_key(CONTENT_TYPE),
            headers,
            timeout: cfg.limit(),
            session: None,
            auth: None,
            call_seq: AtomicU64::new(1),
        })
    }

    /// Sets (or clears) the session whose `X-User-Id`/`X-Auth-Token` headers
    /// authenticated requests carry.
    pub fn set_session(&mut self, s: Option<Session>) {
        self.auth = s.as_ref().and_then(|s| {
            Some([
                HeaderValue::from_str(&s.user_id).ok()?,
                HeaderValue::from_str(&s.token).ok()?,
            ])
        });
        self.session = s;
    }

    /// Closes idle connections (so a test can force new ones).
    pub fn close_idle(&self) {
        self.http.close_idle();
    }

    /// The user is about to pause for `d`: connections that would expire
    /// meanwhile are closed now, which frees their buffers at once (an idle
    /// virtual user should cost what a browser tab costs).
    pub fn pause(&self, d: Duration) {
        if d >= POOL_IDLE {
            self.http.close_idle();
        }
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// `POST /api/v1/login` with a user name (or e-mail) and plain password.
    pub async fn login(&self, user: &str, password: &str) -> Result<Session, RcError> {
        let body = json!({"user": user, "password": password});
        let v = self.call_json("POST", "/api/v1/login", Some(&body)).await?;
        session_from_login(&v)
    }

    /// `POST /api/v1/login` with a resume token.
    pub async fn login_resume(&self, token: &str) -> Result<Session, RcError> {
        let body = json!({"resume": token});
        let v = self.call_json("POST", "/api/v1/login", Some(&body)).await?;
        session_from_login(&v)
    }

    /// `POST /api/v1/logout` (the session is kept; clear it with `set_session`).
    pub async fn logout(&self) -> Result<(), RcError> {
        self.call_json("POST", "/api/v1/logout", None).await?;
        Ok(())
    }

    /// Sends one request; any status is returned, not turned into an error.
    /// `path` is absolute (`/api/info`, `/api/v1/me?x=1`) or relative to
    /// `/api/v1/` (`chat.postMessage`). `auth` adds the session headers.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(String, String)],
        auth: bool,
    ) -> Result<RestResponse, RcError> {
        let method = parse_method(method)?;
        let uri = self.target(path)?;
        let body = body.map(to_bytes);
        self.send(method, &uri, body, headers, auth).await
    }

    /// Sends one authenticated request (when a session is set) and returns
    /// the body of a success; non-2xx or `"success": false` is
    /// [`RcError::Http`].
    pub async fn call_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RcError> {
        let method = parse_method(method)?;
        let uri = self.target(path)?;
        self.call(method, uri, body).await
    }

    // ---- typed helpers -------------------------------------------------

    /// `POST users.register` (no auth); returns the `user` object.
    pub async fn users_register(
        &self,
        username: &str,
        email: &str,
        pass: &str,
        name: &str,
    ) -> Result<Value, RcError> {
        let body = json!({"username": username, "email": email, "pass": pass, "name": name});
        let v = self
            .call_json("POST", "users.register", Some(&body))
            .await?;
        Ok(take(v, "user"))
    }

    /// `POST users.create` (needs `create-user`); returns the `user` object.
    pub async fn users_create(
        &self,
        username: &str,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<Value, RcError> {
        let body = json!({"username": username, "email": email, "password": password,
            "name": name, "verified": true, "joinDefaultChannels": false,
            "requirePasswordChange": false, "sendWelcomeEmail": false});
        let v = self.call_json("POST", "users.create", Some(&body)).await?;
        Ok(take(v, "user"))
    }

    /// `POST channels.create`; returns the new room id.
    pub async fn channels_create(&self, name: &str, members: &[String]) -> Result<String, RcError> {
        let body = json!({"name": name, "members": members});
        let v = self
            .call_json("POST", "channels.create", Some(&body))
            .await?;
        string_at(&v, "/channel/_id", "channels.create")
    }

    /// `POST channels.join`; returns the `channel` object.
    pub async fn channels_join(&self, rid: &str) -> Result<Value, RcError> {
        let body = json!({"roomId": rid});
        let v = self.call_json("POST", "channels.join", Some(&body)).await?;
        Ok(take(v, "channel"))
    }

    /// `GET channels.info?roomName=`: the room id, `None` when no such
    /// channel exists.
    pub async fn channels_info(&self, name: &str) -> Result<Option<String>, RcError> {
        match self.channel(name).await? {
            Some(v) => string_at(&v, "/_id", "channels.info").map(Some),
            None => Ok(None),
        }
    }

    /// `GET users.info?username=`: the user object, `None` when no such
    /// user exists (Rocket.Chat answers 400 "User not found.").
    pub async fn users_info(&self, username: &str) -> Result<Option<Value>, RcError> {
        let uri = self.target(&format!("users.info?username={}", form(username)))?;
        match self.call(Method::GET, uri, None).await {
            Ok(v) => Ok(Some(take(v, "user"))),
            Err(RcError::Http {
                status: 400 | 404,
                error: Some(e),
                ..
            }) if e.to_ascii_lowercase().contains("not found") || e.contains("invalid-user") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST users.delete` (needs `delete-user`).
    pub async fn users_delete(&self, user_id: &str) -> Result<(), RcError> {
        let body = json!({"userId": user_id, "confirmRelinquish": true});
        self.call_json("POST", "users.delete", Some(&body))
            .await
            .map(drop)
    }

    /// `GET settings/:_id` (needs `view-privileged-setting`): its value.
    pub async fn setting(&self, id: &str) -> Result<Value, RcError> {
        let uri = self.target(&format!("settings/{}", form(id)))?;
        let v = self.call(Method::GET, uri, None).await?;
        Ok(take(v, "value"))
    }

    /// `POST settings/:_id {value}` (needs `edit-privileged-setting`).
    /// Rocket.Chat asks for a second factor here; `password` answers it
    /// the way RC's password fallback takes (`X-2fa-code`: the password's
    /// SHA-256 hex, `X-2fa-method: password`).
    pub async fn set_setting(
        &self,
        id: &str,
        value: &Value,
        password: Option<&str>,
    ) -> Result<(), RcError> {
        let uri = self.target(&format!("settings/{}", form(id)))?;
        let factor: Vec<(String, String)> = password
            .map(|p| {
                vec![
                    ("x-2fa-code".into(), super::password_digest(p)),
                    ("x-2fa-method".into(), "password".into()),
                ]
            })
            .unwrap_or_default();
        let body = to_bytes(&json!({ "value": value }));
        let resp = self
            .send(Method::POST, &uri, Some(body), &factor, true)
            .await?;
        check(resp, uri.split('?').next().unwrap_or_default()).map(drop)
    }

    /// `POST channels.invite` of several users at once.
    pub async fn channels_invite(&self, rid: &str, user_ids: &[String]) -> Result<(), RcError> {
        let body = json!({"roomId": rid, "userIds": user_ids});
        self.call_json("POST", "channels.invite", Some(&body))
            .await
            .map(drop)
    }

    /// `POST channels.delete`.
    pub async fn channels_delete(&self, rid: &str) -> Result<(), RcError> {
        let body = json!({"roomId": rid});
        self.call_json("POST", "channels.delete", Some(&body))
            .await
            .map(drop)
    }

    /// `GET channels.info?roomName=`: the whole channel object.
    pub async fn channel(&self, name: &str) -> Result<Option<Value>, RcError> {
        let uri = self.target(&format!("channels.info?roomName={}", form(name)))?;
        match self.call(Method::GET, uri, None).await {
            Ok(v) => Ok(Some(take(v, "channel"))),
            Err(RcError::Http { status: 404, .. }) => Ok(None),
            Err(RcError::Http {
                status: 400,
                error: Some(e),
                ..
            }) if e.contains("room-not-found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET channels.members?roomId=&count=`: the ids of the first `count`
    /// members (by username).
    pub async fn channels_members(&self, rid: &str, count: u32) -> Result<Vec<String>, RcError> {
        let uri = self.target(&format!(
            "channels.members?roomId={}&count={count}",
            form(rid)
        ))?;
        let v = self.call(Method::GET, uri, None).await?;
        let members = v.get("members").and_then(Value::as_array).ok_or_else(|| {
            RcError::Protocol("channels.members: response has no `members` array".into())
        })?;
        Ok(members
            .iter()
            .filter_map(|m| m.get("_id").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// `GET channels.history?roomId=&count=`; returns the whole body.
    pub async fn channels_history(&self, rid: &str, count: u32) -> Result<Value, RcError> {
        let uri = self.target(&format!(
            "channels.history?roomId={}&count={count}",
            form(rid)
        ))?;
        self.call(Method::GET, uri, None).await
    }

    /// `POST chat.postMessage`; returns the stored `message`.
    pub async fn post_message(&self, rid: &str, text: &str) -> Result<Value, RcError> {
        let body = json!({"roomId": rid, "text": text});
        let v = self
            .call_json("POST", "chat.postMessage", Some(&body))
            .await?;
        Ok(take(v, "message"))
    }

    /// `POST chat.sendMessage` with a client-chosen message id; returns the
    /// stored `message`.
    pub async fn send_message(&self, rid: &str, id: &str, text: &str) -> Result<Value, RcError> {
        let body = json!({"message": {"_id": id, "rid": rid, "msg": text}});
        let v = self
            .call_json("POST", "chat.sendMessage", Some(&body))
            .await?;
        Ok(take(v, "message"))
    }

    /// `POST subscriptions.read`.
    pub async fn subscriptions_read(&self, rid: &str) -> Result<(), RcError> {
        let body = json!({"rid": rid});
        self.call_json("POST", "subscriptions.read", Some(&body))
            .await
            .map(drop)
    }

    /// `POST users.setStatus` (`online|away|busy|offline`).
    pub async fn set_status(&self, status: &str, message: Option<&str>) -> Result<(), RcError> {
        let mut body = json!({"status": status});
        if let Some(m) = message {
            body["message"] = Value::from(m);
        }
        self.call_json("POST", "users.setStatus", Some(&body))
            .await
            .map(drop)
    }

    /// `GET rooms.get`.
    pub async fn rooms_get(&self) -> Result<Value, RcError> {
        self.call_json("GET", "rooms.get", None).await
    }

    /// `GET subscriptions.get`.
    pub async fn subscriptions_get(&self) -> Result<Value, RcError> {
        self.call_json("GET", "subscriptions.get", None).await
    }

    /// `GET me`.
    pub async fn me(&self) -> Result<Value, RcError> {
        self.call_json("GET", "me", None).await
    }

    /// `GET /api/info` (no auth).
    pub async fn info(&self) -> Result<Value, RcError> {
        let uri = self.target("/api/info")?;
        let resp = self.send(Method::GET, &uri, None, &[], false).await?;
        check(resp, "/api/info")
    }

    /// A DDP method over REST: `POST method.call/:method` (or `callAnon`)
    /// with the EJSON envelope; the inner result is returned, an inner error
    /// becomes [`RcError::Ddp`].
    pub async fn method_call(
        &self,
        method: &str,
        params: Vec<Value>,
        anon: bool,
    ) -> Result<Value, RcError> {
        let id = self.call_seq.fetch_add(1, Ordering::Relaxed).to_string();
        let envelope = json!({"msg": "method", "id": id, "method": method, "params": params});
        let body = json!({"message": envelope.to_string()});
        let route = if anon {
            "method.callAnon"
        } else {
            "method.call"
        };
        let segment = utf8_percent_encode(method, SEGMENT);
        let uri = self.target(&format!("{route}/{segment}"))?;
        let v = self.call(Method::POST, uri, Some(&body)).await?;
        let endpoint = format!("{route}/{method}");
        let text = v.get("message").and_then(Value::as_str).ok_or_else(|| {
            RcError::Protocol(format!("{endpoint}: response has no `message` string"))
        })?;
        let mut inner: Value = serde_json::from_str(text)
            .map_err(|e| RcError::Protocol(format!("{endpoint}: `message` is not JSON: {e}")))?;
        if let Some(err) = inner.get("error") {
            let (code, reason) = meteor_error(err);
            return Err(RcError::Ddp {
                method: method.to_owned(),
                code,
                reason,
            });
        }
        Ok(inner
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    // ---- plumbing ------------------------------------------------------

    /// The request target of `path`: absolute paths go under the base URL's
    /// path, others under its `/api/v1/`.
    fn target(&self, path: &str) -> Result<String, RcError> {
        // Visible ASCII only: anything else would break the request line
        // (percent-encode it in the scenario).
        if path.is_empty() || !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(RcError::Protocol(format!(
                "invalid path `{path}`: use visible ASCII, percent-encode the rest"
            )));
        }
        Ok(match path.strip_prefix('/') {
            Some(abs) => format!("{}/{abs}", self.prefix),
            None => format!("{}/api/v1/{path}", self.prefix),
        })
    }

    /// An authenticated request whose success body is returned.
    async fn call(
        &self,
        method: Method,
        target: String,
        body: Option<&Value>,
    ) -> Result<Value, RcError> {
        let body = body.map(to_bytes);
        let resp = self.send(method, &target, body, &[], true).await?;
        let endpoint = target.split('?').next().unwrap_or_default();
        check(resp, endpoint)
    }

    async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<Vec<u8>>,
        extra: &[(String, String)],
        auth: bool,
    ) -> Result<RestResponse, RcError> {
        let extra: Vec<(HeaderName, HeaderValue)> = extra
            .iter()
            .map(|(k, v)| header(k, v))
            .collect::<Result<_, _>>()?;
        let auth = self.auth.as_ref().filter(|_| auth);
        let body = body.unwrap_or_default();
        // A `Host` or `Content-Type` of the scenario's replaces ours (a
        // virtual host behind an ingress reached by IP, a non-JSON body).
        // (The client's own headers are checked once, in `new`.)
        let given = |name: &HeaderName, by_default: bool| {
            by_default || extra.iter().any(|(k, _)| k == name)
        };
        let (own_host, own_type) = (
            !given(&HOST, self.sets_host),
            !body.is_empty() && !given(&CONTENT_TYPE, self.sets_type),
        );
        // A body-less GET says nothing of length; anything else does.
        let length = !body.is_empty() || !matches!(method, Method::GET | Method::HEAD);
        let encode = |out: &mut Vec<u8>| {
            for part in [method.as_str().as_bytes(), b" ", target.as_bytes()] {
                out.extend_from_slice(part);
            }
            out.extend_from_slice(b" HTTP/1.1\r\n");
            if own_host {
                for part in [b"host: ", self.host.as_bytes(), b"\r\n"] {
                    out.extend_from_slice(part);
                }
            }
            if own_type {
                out.extend_from_slice(b"content-type: application/json\r\n");
            }
            if length {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "content-length: {}\r\n", body.len());
            }
            let auth = auth
                .into_iter()
                .flat_map(|[id, token]| [(&X_USER_ID, id), (&X_AUTH_TOKEN, token)]);
            let fixed = self.headers.iter().chain(auth);
            for (k, v) in fixed.chain(extra.iter().map(|(k, v)| (k, v))) {
                for part in [k.as_str().as_bytes(), b": ", v.as_bytes(), b"\r\n"] {
                    out.extend_from_slice(part);
                }
            }
            out.extend_from_slice(b"\r\n");
        };
        let req = Outgoing {
            encode,
            body: &body,
            head_only: method == Method::HEAD,
            idempotent: method.is_idempotent(),
        };
        let reply = match self.timeout {
            None => self.http.send(&req).await?,
            Some(limit) => match tokio::time::timeout(limit, self.http.send(&req)).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(RcError::Timeout {
                        what: format!("{method} {}{target}", self.origin.url),
                    });
                }
            },
        };
        Ok(RestResponse {
            status: reply.status,
            date: reply.date,
            rate: reply.rate,
            body: reply.body,
        })
    }
}

static X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
static X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// Characters escaped in a path segment (RFC 3986 unreserved ones stay).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn parse_method(method: &str) -> Result<Method, RcError> {
    Method::from_bytes(method.as_bytes())
        .map_err(|_| RcError::Protocol(format!("invalid HTTP method `{method}`")))
}

/// `application/x-www-form-urlencoded` of one query value.
fn form(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A success body, or the Rocket.Chat error it carries.
fn check(resp: RestResponse, endpoint: &str) -> Result<Value, RcError> {
    let body = resp.json();
    if (200..300).contains(&resp.status)
        && body.get("success").and_then(Value::as_bool) != Some(false)
    {
        return Ok(body);
    }
    let error = rest_error_name(&body);
    let body = match body {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Err(RcError::Http {
        status: resp.status,
        endpoint: endpoint.to_owned(),
        error,
        body,
        reset_ms: resp.rate.map(|r| r.reset_ms),
    })
}

fn header(k: &str, v: &str) -> Result<(HeaderName, HeaderValue), RcError> {
    let name = HeaderName::from_bytes(k.as_bytes())
        .map_err(|_| RcError::Protocol(format!("invalid header name `{k}`")))?;
    let value = HeaderValue::from_str(v)
        .map_err(|_| RcError::Protocol(format!("invalid value for header `{k}`")))?;
    Ok((name, value))
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, RcError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (k, v) in headers {
        let (name, value) = header(k, v)?;
        map.append(name, value);
    }
    Ok(map)
}

fn take(mut v: Value, key: &str) -> Value {
    v.get_mut(key).map(Value::take).unwrap_or(Value::Null)
}

fn string_at(v: &Value, pointer: &str, endpoint: &str) -> Result<String, RcError> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| RcError::Protocol(format!("{endpoint}: response lacks {pointer}")))
}

fn session_from_login(v: &Value) -> Result<Session, RcError> {
    let user_id = string_at(v, "/data/userId", "login")?;
    let token = string_at(v, "/data/authToken", "login")?;
    let username = v
        .pointer("/data/me/username")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(Session {
        user_id,
        token,
        username,
    })
}
