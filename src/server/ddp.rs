//! DDP over the `/websocket` endpoint: one task per connection, running a
//! reader (frames in order, one at a time, as Meteor does) and a writer that
//! drains the connection's bounded [`Outbox`] into the socket.
//!
//! Bounded resources per connection: frames over `max_frame_bytes` close the
//! socket (1009); an outbox over `max_send_buffer_bytes` closes it (1013,
//! slow consumer); small tungstenite buffers keep idle sessions cheap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::time::{Instant, sleep_until, timeout};

use super::bus::{Frame, Outbox, Stream, Subscriber};
use super::errors::MeteorError;
use super::events;
use super::ids;
use super::methods::{self, Caller, Effect};
use super::shapes::{self, Dates};
use super::state::{Instance, Shared};
use super::store::UserIx;

/// Meteor's heartbeat: ping after this much silence, close after as much again.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// DDP versions the server speaks, best first.
const SUPPORTED: [&str; 3] = ["1", "pre2", "pre1"];
/// tungstenite read buffer; frames larger than this grow it on demand.
const READ_BUFFER: usize = 4 * 1024;
/// How long a close frame may take to leave before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Why a session ends, and the close code it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The peer closed or the socket failed: nothing more to send.
    Gone,
    Binary,
    TooBig,
    SlowConsumer,
    HeartbeatTimeout,
    Dropped,
    VersionFailed,
}

impl End {
    fn close(self) -> Option<(u16, &'static str)> {
        match self {
            End::Gone => None,
            End::Binary => Some((1007, "binary frames are not supported")),
            End::TooBig => Some((1009, "frame too large")),
            End::SlowConsumer => Some((1013, "slow consumer")),
            End::HeartbeatTimeout => Some((1000, "heartbeat timeout")),
            End::Dropped => Some((1001, "connection dropped by the server")),
            End::VersionFailed => Some((1000, "unsupported DDP version")),
        }
    }
}

/// `GET /websocket`.
pub async fn upgrade(
    State(inst): State<Arc<Instance>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = inst.shared.max_frame_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run(inst, socket, peer))
}

/// One subscription of this connection.
struct Sub {
    id: Box<str>,
    /// Bus registrations (none for the data-less Meteor publications).
    regs: Vec<(Stream, Box<str>, u64)>,
    presence: bool,
}

struct Session {
    inst: Arc<Instance>,
    conn: u64,
    peer: SocketAddr,
    outbox: Arc<Outbox>,
    connected: bool,
    user: Option<UserIx>,
    subs: Vec<Sub>,
}

async fn run(inst: Arc<Instance>, socket: WebSocket, peer: SocketAddr) {
    let shared = inst.shared.clone();
    let counter = &shared.sessions[inst.index];
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let outbox = Outbox::new(shared.max_send_buffer_bytes);
    let mut drop_signal = shared.faults.drop_signal();
    let faults = shared.faults.clone();
    let index = inst.index;
    let mut session = Session {
        conn: shared.next_conn_id(),
        inst,
        peer,
        outbox: outbox.clone(),
        connected: false,
        user: None,
        subs: Vec::new(),
    };
    let (mut sink, mut stream) = socket.split();
    let end = tokio::select! {
        end = session.read_loop(&mut stream) => end,
        end = write_loop(&outbox, &mut sink) => end,
        _ = outbox.overflowed() => End::SlowConsumer,
        _ = drop_signal.changed() => End::Dropped,
        () = faults.restarted(index) => End::Dropped,
    };
    session.cleanup();
    // The session is over now; the close handshake below may take up to
    // CLOSE_GRACE on a consumer that stopped reading.
    counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if let Some((code, reason)) = end.close() {
        if end != End::SlowConsumer {
            // Replies queued before the end (e.g. `failed`) go out first.
            let _ = timeout(CLOSE_GRACE, flush_outbox(&outbox, &mut sink)).await;
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
}

/// Writes what the outbox holds now.
async fn flush_outbox(outbox: &Outbox, sink: &mut SplitSink<WebSocket, Message>) {
    let mut batch = Vec::new();
    if outbox.drain_into(&mut batch) {
        for frame in batch {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
    }
}

async fn write_loop(outbox: &Outbox, sink: &mut SplitSink<WebSocket, Message>) -> End {
    let mut batch: Vec<Frame> = Vec::new();
    loop {
        if !outbox.drain_into(&mut batch) {
            return End::SlowConsumer;
        }
        if batch.is_empty() {
            outbox.ready().await;
            continue;
        }
        for frame in batch.drain(..) {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return End::Gone;
            }
        }
        if sink.flush().await.is_err() {
            return End::Gone;
        }
        if batch.capacity() > 64 {
            batch = Vec::new();
        }
    }
}

fn error_frame(reason: &str, offending: Option<&Value>) -> Value {
    let mut v = json!({ "msg": "error", "reason": reason });
    if let Some(o) = offending {
        v["offendingMessage"] = o.clone();
    }
    v
}

impl Session {
    fn shared(&self) -> &Shared {
        &self.inst.shared
    }

    fn send(&self, v: &Value) {
        // An overflow is noticed by the session task (End::SlowConsumer).
        self.outbox.push(Frame::from(v.to_string()));
    }

    async fn read_loop(&mut self, stream: &mut SplitStream<WebSocket>) -> End {
        let mut last_in = Instant::now();
        let mut pinged = false;
        let heartbeat = self.shared().heartbeat;
        loop {
            let deadline = last_in + if pinged { heartbeat * 2 } else { heartbeat };
            let next = tokio::select! {
                next = stream.next() => next,
                _ = sleep_until(deadline) => {
                    if pinged {
                        return End::HeartbeatTimeout;
                    }
                    pinged = true;
                    self.send(&json!({ "msg": "ping" }));
                    continue;
                }
            };
            let frame = match next {
                None | Some(Ok(Message::Close(_))) => return End::Gone,
                Some(Err(e)) => return classify(&e),
                Some(Ok(frame)) => frame,
            };
            last_in = Instant::now();
            pinged = false;
            match frame {
                Message::Text(text) => {
                    self.shared().faults.gate().await;
                    if let Some(end) = self.handle(&text) {
                        return end;
                    }
                }
                Message::Binary(_) => return End::Binary,
                // axum answers pings itself; both count as liveness.
                Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
            }
        }
    }

    /// Handles one text frame; `Some` ends the session.
    fn handle(&mut self, text: &str) -> Option<End> {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
            self.send(&error_frame("Parse error", None));
            return None;
        };
        let kind = obj.get("msg").and_then(Value::as_str);
        if !self.connected {
            if kind == Some("connect") {
                return self.connect(&obj);
            }
            self.send(&error_frame(
                "Must connect first",
                Some(&Value::Object(obj)),
            ));
            return None;
        }
        match kind {
            Some("connect") => {
                self.send(&error_frame("Already connected", Some(&Value::Object(obj))))
            }
            Some("ping") => {
                let mut pong = json!({ "msg": "pong" });
                if let Some(id) = obj.get("id") {
                    pong["id"] = id.clone();
                }
                self.send(&pong);
            }
            Some("pong") => {}
            Some("method") => self.method(obj),
            Some("sub") => self.sub(obj),
            Some("unsub") => self.unsub(&obj),
            _ => self.send(&error_frame("Bad request", Some(&Value::Object(obj)))),
        }
        None
    }

    fn connect(&mut self, obj: &Map<String, Value>) -> Option<End> {
        let version = obj.get("version").and_then(Value::as_str);
        let support: Option<Vec<&str>> = match obj.get("support") {
            Some(Value::Array(a)) => a.iter().map(Value::as_str).collect(),
            _ => None,
        };
        match (version, support) {
            (Some(v), Some(_)) if SUPPORTED.contains(&v) => {
                self.connected = true;
                self.send(&json!({ "msg": "connected", "session": ids::random_id() }));
                None
            }
            (_, support) => {
                let best = support
                    .and_then(|s| SUPPORTED.iter().find(|v| s.contains(v)).copied())
                    .unwrap_or(SUPPORTED[0]);
                self.send(&json!({ "msg": "failed", "version": best }));
                Some(End::VersionFailed)
            }
        }
    }

    fn user_id(&self) -> String {
        self.user
            .map(|u| self.shared().store.read().user(u).id.clone())
            .unwrap_or_default()
    }

    /// The DDP rate limiter and the global rate-limit fault; `Err` = refused.
    fn admit(&self, name: &str) -> Result<(), u64> {
        let faults = &self.shared().faults;
        if faults.rate_limited() {
            return Err(faults.rate_limit_reset_ms());
        }
        let limiters = &self.inst.limiters;
        if limiters.ddp_on() {
            limiters.check_ddp(name, &self.user_id(), self.conn, &self.peer.ip())?;
        }
        Ok(())
    }

    fn method(&mut self, obj: Map<String, Value>) {
        let Some((id, name, params)) = call_fields(&obj, "method") else {
            self.send(&error_frame(
                "Malformed method invocation",
                Some(&Value::Object(obj.clone())),
            ));
            return;
        };
        if let Err(ms) = self.admit(name) {
            self.send(&json!({ "msg": "result", "id": id, "error": MeteorError::too_many_requests(ms).to_json() }));
            self.send(&json!({ "msg": "updated", "methods": [id] }));
            return;
        }
        let shared = self.inst.shared.clone();
        let start = std::time::Instant::now();
        shared.cost.burn(name);
        let caller = Caller {
            user: self.user,
            conn: Some(self.conn),
        };
        match methods::call(&shared, &caller, name, params) {
            Ok(out) => {
                match out.effect {
                    Effect::Login { user, .. } => self.logged_in(user),
                    Effect::Logout => self.set_user(None),
                    Effect::None => {}
                }
                let mut r = json!({ "msg": "result", "id": id });
                if let Some(v) = out.result {
                    r["result"] = v;
                }
                self.send(&r);
            }
            Err(e) => self.send(&json!({ "msg": "result", "id": id, "error": e.to_json() })),
        }
        self.send(&json!({ "msg": "updated", "methods": [id] }));
        if let Some(m) = &shared.metrics {
            m.observe_method(name, true, self.user.is_some(), start.elapsed());
        }
    }

    fn logged_in(&mut self, user: UserIx) {
        self.set_user(Some(user));
        let d = self.shared().store.read();
        let u = d.user(user);
        let mut fields = shapes::own_user(u, Dates::Ejson);
        if let Value::Object(m) = &mut fields {
            m.remove("_id");
            m.remove("services");
        }
        self.send(&json!({ "msg": "added", "collection": "users", "id": u.id, "fields": fields }));
    }

    /// Switches the connection's user, keeping automatic presence counts.
    fn set_user(&mut self, user: Option<UserIx>) {
        if self.user == user {
            return;
        }
        let shared = self.inst.shared.clone();
        let mut d = shared.store.write();
        // Presence follows the connections: the first login of a user
        // brings it online, its last disconnect offline, as Rocket.Chat
        // tells `user-status` and presence listeners.
        if let Some(old) = self.user {
            if let Some(status) = d.connection_changed(old, -1) {
                events::status_changed(&shared.bus, &d, old, status);
            }
            shared
                .auth_sessions
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(new) = user {
            if let Some(status) = d.connection_changed(new, 1) {
                events::status_changed(&shared.bus, &d, new, status);
            }
            shared
                .auth_sessions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        drop(d);
        self.user = user;
    }

    fn sub(&mut self, obj: Map<String, Value>) {
        let Some((id, name, params)) = call_fields(&obj, "name") else {
            self.send(&error_frame(
                "Malformed subscription",
                Some(&Value::Object(obj.clone())),
            ));
            return;
        };
        // A sub whose id already exists is silently ignored (Meteor).
        if self.subs.iter().any(|s| &*s.id == id) {
            return;
        }
        let op = format!("sub:{name}");
        if let Err(ms) = self.admit(&op) {
            self.send(&json!({ "msg": "nosub", "id": id, "error": MeteorError::too_many_requests(ms).to_json() }));
            return;
        }
        let start = std::time::Instant::now();
        self.shared().cost.burn(&op);
        let opened = self.open_sub(id, name, params);
        if let Some(m) = &self.shared().metrics {
            m.observe_sub(name, start.elapsed());
        }
        match opened {
            Ok(true) => self.send(&json!({ "msg": "ready", "subs": [id] })),
            Ok(false) => self.send(&json!({ "msg": "nosub", "id": id })),
            Err(e) => self.send(&json!({ "msg": "nosub", "id": id, "error": e.to_json() })),
        }
    }

    /// Registers a subscription; `Ok(false)` = handled but stopped at once
    /// (a later `stream-user-presence` sub that only edits the listened set).
    fn open_sub(&mut self, id: &str, name: &str, params: &[Value]) -> Result<bool, MeteorError> {
        const DATALESS: [&str; 4] = [
            "meteor.loginServiceConfiguration",
            "meteor_autoupdate_clientVersions",
            "userData",
            "activeUsers",
        ];
        if DATALESS.contains(&name) {
            self.subs.push(Sub {
                id: id.into(),
                regs: Vec::new(),
                presence: false,
            });
            return Ok(true);
        }
        let stream = Stream::parse(name).ok_or_else(|| MeteorError::sub_not_found(name))?;
        if stream == Stream::UserPresence {
            return self.presence_sub(id, params);
        }
        let event = params.first().and_then(Value::as_str).unwrap_or_default();
        if event.is_empty() {
            return Err(MeteorError {
                error: json!("invalid-event-name"),
                reason: None,
                details: None,
            });
        }
        if !self.may_read(stream, event) {
            return Err(MeteorError::new("not-allowed", "Not allowed"));
        }
        let use_collection = match params.get(1) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Object(o)) => o
                .get("useCollection")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            _ => false,
        };
        if use_collection {
            self.send(&json!({ "msg": "added", "collection": name, "id": "id", "fields": { "eventName": event } }));
        }
        let key = self
            .shared()
            .bus
            .subscribe(stream, event, self.subscriber());
        self.subs.push(Sub {
            id: id.into(),
            regs: vec![(stream, event.into(), key)],
            presence: false,
        });
        Ok(true)
    }

    fn subscriber(&self) -> Subscriber {
        Subscriber {
            conn: self.conn,
            user: self.user,
            outbox: self.outbox.clone(),
        }
    }

    /// Rocket.Chat's read rules per stream.
    fn may_read(&self, stream: Stream, event: &str) -> bool {
        let Some(user) = self.user else {
            return stream == Stream::NotifyAll;
        };
        let d = self.shared().store.read();
        match stream {
            Stream::RoomMessages => event == "__my_messages__" || d.room_by_id(event).is_some(),
            Stream::NotifyRoom => event
                .split_once('/')
                .and_then(|(rid, _)| d.room_by_id(rid))
                .is_some_and(|r| d.room(r).is_member(user)),
            Stream::NotifyUser => event
                .split_once('/')
                .is_some_and(|(uid, _)| d.user(user).id == uid),
            Stream::NotifyLogged | Stream::NotifyAll | Stream::UserPresence => true,
        }
    }

    /// `stream-user-presence` with `["", {"added": [uid], "removed": [uid]}]`.
    fn presence_sub(&mut self, id: &str, params: &[Value]) -> Result<bool, MeteorError> {
        if self.user.is_none() {
            return Err(MeteorError::new("not-allowed", "Not allowed"));
        }
        let uids = |key: &str| -> Vec<String> {
            params
                .get(1)
                .and_then(|o| o.get(key))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (added, removed) = (uids("added"), uids("removed"));
        let first = !self.subs.iter().any(|s| s.presence);
        if first {
            self.subs.push(Sub {
                id: id.into(),
                regs: Vec::new(),
                presence: true,
            });
        }
        let bus = &self.inst.shared.bus;
        let subscriber = self.subscriber();
        // Invariant: a presence entry exists (pushed above when first).
        let Some(entry) = self.subs.iter_mut().find(|s| s.presence) else {
            return Ok(false);
        };
        for uid in removed {
            if let Some(pos) = entry.regs.iter().position(|(_, e, _)| **e == *uid) {
                let (stream, event, key) = entry.regs.swap_remove(pos);
                bus.unsubscribe(stream, &event, key);
            }
        }
        for uid in added {
            if !entry.regs.iter().any(|(_, e, _)| **e == *uid) {
                let key = bus.subscribe(Stream::UserPresence, &uid, subscriber.clone());
                entry.regs.push((Stream::UserPresence, uid.into(), key));
            }
        }
        Ok(first)
    }

    fn unsub(&mut self, obj: &Map<String, Value>) {
        let Some(Value::String(id)) = obj.get("id") else {
            self.send(&error_frame(
                "Malformed subscription",
                Some(&Value::Object(obj.clone())),
            ));
            return;
        };
        if let Some(pos) = self.subs.iter().position(|s| *s.id == **id) {
            let sub = self.subs.swap_remove(pos);
            self.release(sub);
        }
        self.send(&json!({ "msg": "nosub", "id": id }));
    }

    fn release(&self, sub: Sub) {
        for (stream, event, key) in sub.regs {
            self.shared().bus.unsubscribe(stream, &event, key);
        }
    }

    fn cleanup(&mut self) {
        for sub in std::mem::take(&mut self.subs) {
            self.release(sub);
        }
        self.set_user(None);
    }
}

/// `id`, the `name_key` field and `params` of a method or sub message, as
/// Meteor checks them: strings, an optional array, an optional string
/// `randomSeed`; `None` = malformed.
fn call_fields<'a>(
    obj: &'a Map<String, Value>,
    name_key: &str,
) -> Option<(&'a str, &'a str, &'a [Value])> {
    let id = obj.get("id")?.as_str()?;
    let name = obj.get(name_key)?.as_str()?;
    let params = match obj.get("params") {
        None => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return None,
    };
    if obj.get("randomSeed").is_some_and(|s| !s.is_string()) {
        return None;
    }
    Some((id, name, params))
}

/// Maps a socket read error to how the session ends. axum wraps its own
/// tungstenite version, so the kind is read from the message text.
fn classify(e: &axum::Error) -> End {
    let text = e.to_string();
    if text.contains("Space limit exceeded") {
        End::TooBig
    } else if text.contains("UTF-8") {
        End::Binary
    } else {
        End::Gone
    }
}

#[cfg(test)]
mod tests;
