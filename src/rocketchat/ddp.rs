//! DDP (Meteor's realtime protocol) over one websocket per virtual user.
//!
//! One reader task per connection parses every frame once, resolves pending
//! method calls and subscriptions by id, answers server pings, keeps the
//! connection alive like `@rocket.chat/ddp-client` (ping after 30 s of
//! silence, give up after 60 s), and hands stream events to an [`EventSink`].
//! Writers share the socket's sink behind an async lock: no writer task and
//! no channel, so an idle connection costs little more than its socket.

pub mod frame;
mod transport;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use self::frame::Incoming;
use self::transport::WsStream;
use super::error::{from_ws, meteor_error};
use super::{ClientConfig, RcError, Session, password_digest};

/// Client ping after this much silence from the server.
const PING_AFTER: Duration = Duration::from_secs(30);
/// Connection considered dead after this much silence.
const CLOSE_AFTER: Duration = Duration::from_secs(60);

/// Receives stream events on the connection's reader task. Implementations
/// must return quickly and never block: the next frame waits meanwhile.
pub trait EventSink: Send + Sync + 'static {
    fn event(&self, ev: DdpEvent<'_>);
}

/// What the reader hands to the [`EventSink`].
#[derive(Debug, Clone, Copy)]
pub enum DdpEvent<'a> {
    /// An `added` or `changed` frame: a stream event (`collection` =
    /// `stream-room-messages`, `event_name` = room id, `args` = `[message]`)
    /// or a document (`users` on login; then `event_name` is empty).
    Changed {
        collection: &'a str,
        event_name: &'a str,
        args: &'a [Value],
    },
    /// The connection is gone (sent once); `code` is the websocket close code.
    Closed { code: Option<u16> },
}

/// Handle on one DDP connection; clones share it. Dropping the last clone
/// stops the reader and closes the socket.
#[derive(Clone)]
pub struct Ddp {
    conn: Arc<Conn>,
}

struct Conn {
    shared: Arc<Shared>,
    reader: AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

type WsSink = SplitSink<WsStream, Message>;

/// State shared by the handles and the reader task.
struct Shared {
    sink: tokio::sync::Mutex<Option<WsSink>>,
    state: Mutex<State>,
    next_id: AtomicU32,
    closed: AtomicBool,
    closed_notify: Notify,
    events: Arc<dyn EventSink>,
    timeout: Option<Duration>,
}

#[derive(Default)]
struct State {
    /// Calls and subscriptions awaiting their answer: a handful at most, so a
    /// small vector beats a map.
    pending: Vec<(u32, oneshot::Sender<Reply>)>,
    closed: Option<CloseInfo>,
    /// `(user id, username)` from the last `added` on `users` (login).
    user: Option<(String, String)>,
}

#[derive(Clone, Debug)]
struct CloseInfo {
    code: Option<u16>,
    reason: String,
}

impl CloseInfo {
    fn error(&self) -> RcError {
        RcError::Closed {
            code: self.code,
            reason: self.reason.clone(),
        }
    }
}

/// What the reader sends to a waiting caller.
enum Reply {
    Result(Value),
    Error(Value),
    Ready,
    Nosub(Option<Value>),
    Protocol(String),
    Closed(CloseInfo),
}

impl Ddp {
    /// Opens `ws(s)://host:port/websocket` for the deployment at `base_url`
    /// and completes the DDP handshake (`connect` -> `connected`).
    pub async fn connect(
        base_url: &str,
        cfg: &ClientConfig,
        sink: Arc<dyn EventSink>,
    ) -> Result<Ddp, RcError> {
        let url = transport::ws_url(base_url)?;
        let what = || format!("DDP connect to {url}");
        // Opening takes a ~19 KiB future (upgrade + handshake); boxed, it
        // lives only while connecting instead of inside every caller's
        // (every virtual user's) future for its whole life.
        let ws = Box::pin(limit(cfg.limit(), what, async {
            let mut ws = transport::open(&url, cfg).await?;
            handshake(&mut ws, url.as_str()).await?;
            Ok(ws)
        }))
        .await?;
        let (write, read) = ws.split();
        let shared = Arc::new(Shared {
            sink: tokio::sync::Mutex::new(Some(write)),
            state: Mutex::new(State::default()),
            next_id: AtomicU32::new(1),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            events: sink,
            timeout: cfg.limit(),
        });
        let reader = tokio::spawn(read_loop(read, shared.clone())).abort_handle();
        Ok(Ddp {
            conn: Arc::new(Conn { shared, reader }),
        })
    }

    /// Calls a method; resolves on its `result` (`Value::Null` when the
    /// result is omitted). A Meteor error becomes [`RcError::Ddp`].
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, RcError> {
        let shared = &self.conn.shared;
        let id = shared.next_id();
        let frame = frame::encode_method(id, method, &params);
        drop(params);
        match shared
            .exchange(id, frame, || format!("DDP method {method}"))
            .await?
        {
            Reply::Result(v) => Ok(v),
            Reply::Error(err) => {
                let (code, reason) = meteor_error(&err);
                Err(RcError::Ddp {
                    method: method.to_owned(),
                    code,
                    reason,
                })
            }
            other => Err(unexpected(other, method)),
        }
    }

    /// `login` with a SHA-256 password digest (what the official clients send).
    pub async fn login_password(&self, username: &str, password: &str) -> Result<Session, RcError> {
        let params = vec![json!({
            "user": {"username": username},
            "password": {"digest": password_digest(password), "algorithm": "sha-256"},
        })];
        let result = self.call("login", params).await?;
        let (user_id, token) = login_result(&result)?;
        Ok(Session {
            user_id,
            token,
            username: username.to_owned(),
        })
    }

    /// `login` with a resume token (e.g. one from REST login). The username
    /// comes from the `users` document the server pushes on login.
    pub async fn login_resume(&self, token: &str) -> Result<Session, RcError> {
        let result = self.call("login", vec![json!({"resume": token})]).await?;
        let (user_id, token) = login_result(&result)?;
        let username = match &self.conn.shared.lock().user {
            Some((id, name)) if *id == user_id => name.clone(),
            _ => String::new(),
        };
        Ok(Session {
            user_id,
            token,
            username,
        })
    }

    /// Subscribes and waits for `ready`; returns the subscription id.
    /// `nosub` instead of `ready` is [`RcError::Nosub`].
    pub async fn subscribe(&self, name: &str, params: Vec<Value>) -> Result<String, RcError> {
        let shared = &self.conn.shared;
        let id = shared.next_id();
        let frame = frame::encode_sub(id, name, &params);
        drop(params);
        match shared
            .exchange(id, frame, || format!("DDP subscription {name}"))
            .await?
        {
            Reply::Ready => Ok(id.to_string()),
            Reply::Nosub(err) => {
                let (code, reason) = err
                    .as_ref()
                    .map(meteor_error)
                    .unwrap_or_else(|| (String::new(), "stopped by the server".to_owned()));
                Err(RcError::Nosub {
                    name: name.to_owned(),
                    code,
                    reason,
                })
            }
            other => Err(unexpected(other, name)),
        }
    }

    /// Stops a subscription and waits for the server's `nosub`.
    pub async fn unsubscribe(&self, sub_id: &str) -> Result<(), RcError> {
        let id: u32 = sub_id.parse().map_err(|_| {
            RcError::Protocol(format!(
                "`{sub_id}` is not a subscription id of this connection"
            ))
        })?;
        let frame = frame::encode_unsub(sub_id);
        match self
            .conn
            .shared
            .exchange(id, frame, || format!("DDP unsubscribe {sub_id}"))
            .await?
        {
            Reply::Nosub(_) => Ok(()),
            other => Err(unexpected(other, sub_id)),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.conn.shared.closed.load(Ordering::Acquire)
    }

    /// Resolves once the connection is gone (at once if it already is).
    pub async fn closed(&self) {
        let shared = &self.conn.shared;
        loop {
            let notified = shared.closed_notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a close in between is not missed.
            notified.as_mut().enable();
            if shared.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Closes the websocket (code 1000); pending calls fail with
    /// [`RcError::Closed`] and the sink gets [`DdpEvent::Closed`].
    pub async fn close(&self) {
        let shared = &self.conn.shared;
        if let Some(sink) = shared.sink.lock().await.as_mut() {
            // Best effort: the peer may already be gone.
            let _ = sink.send(Message::Close(None)).await;
        }
        shared
            .finish(CloseInfo {
                code: Some(1000),
                reason: "closed by the client".to_owned(),
            })
            .await;
        self.conn.reader.abort();
    }
}

fn unexpected(reply: Reply, what: &str) -> RcError {
    match reply {
        Reply::Closed(info) => info.error(),
        Reply::Protocol(reason) => RcError::Protocol(format!("{what}: {reason}")),
        _ => RcError::Protocol(format!("{what}: answer of the wrong kind for this request")),
    }
}

fn login_result(result: &Value) -> Result<(String, String), RcError> {
    let field = |k: &str| {
        result
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RcError::Protocol(format!("login result lacks `{k}`")))
    };
    Ok((field("id")?, field("token")?))
}

/// Runs `fut` under the optional timeout.
async fn limit<T>(
    timeout: Option<Duration>,
    what: impl FnOnce() -> String,
    fut: impl Future<Output = Result<T, RcError>>,
) -> Result<T, RcError> {
    match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .unwrap_or_else(|_| Err(RcError::Timeout { what: what() })),
        None => fut.await,
    }
}

/// Sends `connect` and waits for `connected`, skipping `server_id` frames
/// (with or without `msg`) and answering pings.
async fn handshake(ws: &mut WsStream, url: &str) -> Result<(), RcError> {
    ws.send(Message::text(frame::CONNECT))
        .await
        .map_err(|e| from_ws(e, url, "sending DDP connect"))?;
    loop {
        let msg = match ws.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(from_ws(e, url, "DDP handshake")),
            None => {
                return Err(RcError::Closed {
                    code: None,
                    reason: format!("{url}: closed during the DDP handshake"),
                });
            }
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(frame) => return Err(close_info(frame.as_ref()).error()),
            _ => continue,
        };
        let Ok(frame) = Incoming::parse(text.as_str()) else {
            return Err(RcError::Protocol(format!(
                "{url}: non-JSON frame during the DDP handshake"
            )));
        };
        match frame.msg() {
            "connected" => return Ok(()),
            "failed" => {
                return Err(RcError::Protocol(format!(
                    "{url}: server refused DDP version 1 (failed: {text})"
                )));
            }
            "ping" => {
                let pong = frame::encode_pong(frame.id.as_ref().map(|s| s.as_str()));
                ws.send(Message::text(pong))
                    .await
                    .map_err(|e| from_ws(e, url, "answering a ping"))?;
            }
            "error" => {
                let reason = frame.reason.as_ref().map_or("", |s| s.as_str());
                return Err(RcError::Protocol(format!(
                    "{url}: DDP handshake error: {reason}"
                )));
            }
            // `{"server_id":"0"}`, `{"msg":"server_id",...}` and anything else.
            _ => {}
        }
    }
}

fn close_info(frame: Option<&CloseFrame>) -> CloseInfo {
    match frame {
        Some(f) => CloseInfo {
            code: Some(u16::from(f.code)),
            reason: format!("closed by the server: {}", f.reason.as_str()),
        },
        None => CloseInfo {
            code: None,
            reason: "closed by the server".to_owned(),
        },
    }
}

/// The reader task: dispatches frames until the socket ends or goes silent.
async fn read_loop(mut stream: SplitStream<WsStream>, shared: Arc<Shared>) {
    let mut last_frame = Instant::now();
    let mut pinged = false;
    let timer = tokio::time::sleep(PING_AFTER);
    tokio::pin!(timer);
    let end = loop {
        tokio::select! {
            biased;
            msg = stream.next() => {
                // Any frame proves the peer alive; the timer catches up lazily.
                last_frame = Instant::now();
                pinged = false;
                match msg {
                    Some(Ok(Message::Text(text))) => shared.dispatch(text.as_str()).await,
                    Some(Ok(Message::Close(frame))) => break close_info(frame.as_ref()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break CloseInfo { code: None, reason: e.to_string() },
                    None => break CloseInfo { code: None, reason: "connection ended".to_owned() },
                }
            }
            () = &mut timer => {
                let silent = last_frame.elapsed();
                if silent >= CLOSE_AFTER {
                    break CloseInfo {
                        code: None,
                        reason: format!("no frame from the server for {} s", CLOSE_AFTER.as_secs()),
                    };
                }
                if silent >= PING_AFTER && !pinged {
                    pinged = true;
                    // A failed write surfaces as a read error next.
                    let _ = shared.send_text(frame::PING.to_owned()).await;
                }
                let next = last_frame + if pinged { CLOSE_AFTER } else { PING_AFTER };
                timer.as_mut().reset(next);
            }
        }
    };
    shared.finish(end).await;
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave State inconsistent
        // (each update is a single push/remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn closed_error(&self) -> RcError {
        match &self.lock().closed {
            Some(info) => info.error(),
            None => RcError::Closed {
                code: None,
                reason: "connection closed".to_owned(),
            },
        }
    }

    /// Registers `id`, sends `frame`, and waits for the answer under the
    /// call timeout. The registration is removed on every failure.
    async fn exchange(
        &self,
        id: u32,
        frame: String,
        what: impl FnOnce() -> String,
    ) -> Result<Reply, RcError> {
        let rx = {
            let mut st = self.lock();
            if let Some(info) = &st.closed {
                return Err(info.error());
            }
            let (tx, rx) = oneshot::channel();
            st.pending.push((id, tx));
            rx
        };
        let out = limit(self.timeout, what, async {
            self.send_text(frame).await?;
            rx.await.map_err(|_| self.closed_error())
        })
        .await;
        if out.is_err() {
            self.take_pending(id);
        }
        out
    }

    fn take_pending(&self, id: u32) -> Option<oneshot::Sender<Reply>> {
        let mut st = self.lock();
        let at = st.pending.iter().position(|(p, _)| *p == id)?;
        Some(st.pending.swap_remove(at).1)
    }

    fn resolve(&self, id: &str, reply: Reply) {
        let Ok(id) = id.parse::<u32>() else { return };
        if let Some(tx) = self.take_pending(id) {
            // The caller may have given up (timeout): nothing to do then.
            let _ = tx.send(reply);
        }
    }

    async fn send_text(&self, text: String) -> Result<(), RcError> {
        let mut guard = self.sink.lock().await;
        let Some(sink) = guard.as_mut() else {
            drop(guard);
            return Err(self.closed_error());
        };
        sink.send(Message::text(text))
            .await
            .map_err(|e| RcError::Closed {
                code: None,
                reason: format!("write failed: {e}"),
            })
    }

    /// Handles one text frame from the server.
    async fn dispatch(&self, text: &str) {
        // Unparsable frames are skipped: DDP peers ignore what they do not know.
        let Ok(f) = Incoming::parse(text) else { return };
        match f.msg() {
            "result" => {
                if let Some(id) = &f.id {
                    let reply = match f.error {
                        Some(err) => Reply::Error(err),
                        None => Reply::Result(f.result.unwrap_or(Value::Null)),
                    };
                    self.resolve(id.as_str(), reply);
                }
            }
            "ready" => {
                for sub in &f.subs {
                    self.resolve(sub.as_str(), Reply::Ready);
                }
            }
            "nosub" => {
                if let Some(id) = &f.id {
                    self.resolve(id.as_str(), Reply::Nosub(f.error));
                }
            }
            kind @ ("changed" | "added") => {
                let collection = f.collection.as_ref().map_or("", |s| s.as_str());
                let (event_name, args, username) = match &f.fields {
                    Some(fields) => (
                        fields.event_name.as_ref().map_or("", |s| s.as_str()),
                        fields.args.as_slice(),
                        fields.username.as_ref(),
                    ),
                    None => ("", &[][..], None),
                };
                if let (true, Some(name), Some(id)) =
                    (kind == "added" && collection == "users", username, &f.id)
                {
                    self.lock().user = Some((id.as_str().to_owned(), name.as_str().to_owned()));
                }
                self.events.event(DdpEvent::Changed {
                    collection,
                    event_name,
                    args,
                });
            }
            "ping" => {
                let pong = frame::encode_pong(f.id.as_ref().map(|s| s.as_str()));
                // A failed write surfaces as a read error next.
                let _ = self.send_text(pong).await;
            }
            "error" => {
                // A protocol error about one of our frames fails that request.
                let about = f
                    .offending_message
                    .as_ref()
                    .and_then(|m| m.get("id"))
                    .and_then(Value::as_str);
                if let Some(id) = about {
                    let reason = f.reason.as_ref().map_or("protocol error", |s| s.as_str());
                    self.resolve(id, Reply::Protocol(format!("server error: {reason}")));
                }
            }
            // updated, pong, removed, connected again, server_id, ...
            _ => {}
        }
    }

    /// Marks the connection closed (once): fails pending requests, wakes
    /// `closed()` waiters, tells the sink, and drops the write half.
    async fn finish(&self, info: CloseInfo) {
        let pending = {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(info.clone());
            std::mem::take(&mut st.pending)
        };
        self.closed.store(true, Ordering::Release);
        for (_, tx) in pending {
            let _ = tx.send(Reply::Closed(info.clone()));
        }
        self.closed_notify.notify_waiters();
        self.events.event(DdpEvent::Closed { code: info.code });
        drop(self.sink.lock().await.take());
    }
}
