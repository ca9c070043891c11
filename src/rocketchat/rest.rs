//! Rocket.Chat's REST API (`/api/v1/...`) over reqwest.
//!
//! One `reqwest::Client` per [`Rest`] value, so every virtual user has its
//! own keep-alive connections, as a real browser would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::error::{from_reqwest, meteor_error, rest_error_name};
use super::{ClientConfig, RcError, Session, tls};

/// How long an idle keep-alive connection is kept for reuse.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// Status and parsed body of a REST response (any status).
#[derive(Clone, Debug)]
pub struct RestResponse {
    pub status: u16,
    /// The JSON body; a non-JSON body is a `Value::String`, an empty one `Null`.
    pub body: Value,
}

impl RestResponse {
    /// 2xx and not `"success": false`.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
            && self.body.get("success").and_then(Value::as_bool) != Some(false)
    }
}

/// REST client of one virtual user.
pub struct Rest {
    client: reqwest::Client,
    base: Url,
    session: Option<Session>,
    /// Ids of `method.call` envelopes (any unique string does).
    call_seq: AtomicU64,
}

impl Rest {
    /// A client for the deployment at `base_url` (`http(s)://host:port`).
    pub fn new(base_url: &str, cfg: &ClientConfig) -> Result<Rest, RcError> {
        let mut base = Url::parse(base_url)
            .map_err(|e| RcError::Protocol(format!("invalid base URL `{base_url}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(RcError::Protocol(format!(
                "base URL `{base_url}` must start with http:// or https://"
            )));
        }
        // Joining relative paths needs a trailing slash on the base.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(header_map(&cfg.headers)?)
            .tls_backend_preconfigured((*tls::client_config(cfg.insecure)?).clone())
            .tcp_nodelay(true)
            // Node (so Rocket.Chat) closes idle keep-alive connections after
            // 5 s: reusing one then races the server's close and fails a
            // request. Dropping them sooner also frees ~20 KiB of buffers
            // per idle virtual user.
            .pool_idle_timeout(POOL_IDLE)
            .no_proxy();
        if let Some(limit) = cfg.limit() {
            builder = builder.timeout(limit).connect_timeout(limit);
        }
        if let Some(ip) = cfg.source_ip {
            builder = builder.local_address(ip);
        }
        let client = builder
            .build()
            .map_err(|e| from_reqwest(e, base_url, "building the HTTP client"))?;
        Ok(Rest {
            client,
            base,
            session: None,
            call_seq: AtomicU64::new(1),
        })
    }

    /// Sets (or clears) the session whose `X-User-Id`/`X-Auth-Token` headers
    /// authenticated requests carry.
    pub fn set_session(&mut self, s: Option<Session>) {
        self.session = s;
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
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| RcError::Protocol(format!("invalid HTTP method `{method}`")))?;
        let url = self.url(path)?;
        self.send(method, url, body, headers, auth).await
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
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| RcError::Protocol(format!("invalid HTTP method `{method}`")))?;
        let url = self.url(path)?;
        self.call_url(method, url, body).await
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

    /// `GET channels.info?roomName=`; `None` when no such channel exists.
    pub async fn channels_info(&self, name: &str) -> Result<Option<String>, RcError> {
        let mut url = self.url("channels.info")?;
        url.query_pairs_mut().append_pair("roomName", name);
        match self.call_url(Method::GET, url, None).await {
            Ok(v) => string_at(&v, "/channel/_id", "channels.info").map(Some),
            Err(RcError::Http { status: 404, .. }) => Ok(None),
            Err(RcError::Http {
                status: 400,
                error: Some(e),
                ..
            }) if e.contains("room-not-found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET channels.history?roomId=&count=`; returns the whole body.
    pub async fn channels_history(&self, rid: &str, count: u32) -> Result<Value, RcError> {
        let mut url = self.url("channels.history")?;
        url.query_pairs_mut()
            .append_pair("roomId", rid)
            .append_pair("count", &count.to_string());
        self.call_url(Method::GET, url, None).await
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
        let url = self.url("/api/info")?;
        let resp = self.send(Method::GET, url, None, &[], false).await?;
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
        let mut url = self.url(route)?;
        url.path_segments_mut()
            .map_err(|()| RcError::Protocol(format!("base URL {} cannot take a path", self.base)))?
            .push(method);
        let v = self.call_url(Method::POST, url, Some(&body)).await?;
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

    fn url(&self, path: &str) -> Result<Url, RcError> {
        let rel = match path.strip_prefix('/') {
            Some(abs) => abs.to_owned(),
            None => format!("api/v1/{path}"),
        };
        self.base
            .join(&rel)
            .map_err(|e| RcError::Protocol(format!("invalid path `{path}`: {e}")))
    }

    async fn call_url(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, RcError> {
        let endpoint = url.path().to_owned();
        let resp = self.send(method, url, body, &[], true).await?;
        check(resp, &endpoint)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: &[(String, String)],
        auth: bool,
    ) -> Result<RestResponse, RcError> {
        let what = format!("{method} {}", url.path());
        let url_text = url.to_string();
        let mut req = self.client.request(method, url);
        if let (true, Some(s)) = (auth, &self.session) {
            req = req
                .header("X-User-Id", &s.user_id)
                .header("X-Auth-Token", &s.token);
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| from_reqwest(e, &url_text, &what))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| from_reqwest(e, &url_text, &what))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(RestResponse { status, body })
    }
}

/// A success body, or the Rocket.Chat error it carries.
fn check(resp: RestResponse, endpoint: &str) -> Result<Value, RcError> {
    if resp.is_success() {
        return Ok(resp.body);
    }
    let error = rest_error_name(&resp.body);
    let body = match resp.body {
        Value::String(s) => s,
        other => other.to_string(),
    };
    Err(RcError::Http {
        status: resp.status,
        endpoint: endpoint.to_owned(),
        error,
        body,
    })
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, RcError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| RcError::Protocol(format!("invalid header name `{k}`")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| RcError::Protocol(format!("invalid value for header `{k}`")))?;
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
