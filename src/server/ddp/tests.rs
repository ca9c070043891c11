//! The DDP session state machine, driven over real websockets against a
//! port-0 server (two instances: fan-out crosses instance threads).

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::server::{self, Server, ServerConfig, ids};

/// Bound on every wait, so a broken server fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(10);

fn start(cfg: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut c = ServerConfig::embedded();
    c.instances = 2;
    c.seed.users = 4;
    c.seed.password = "pw".into();
    cfg(&mut c);
    server::start(c).expect("server starts")
}

struct Ws {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u32,
    /// Frames a call or sub skipped while waiting for its answer.
    pending: VecDeque<Value>,
}

/// How a connection ended.
#[derive(Debug, PartialEq)]
enum Ended {
    Close(Option<u16>),
    Dropped,
}

impl Ws {
    async fn open(base: &str) -> Ws {
        let url = format!("{}/websocket", base.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket opens");
        Ws {
            ws,
            next_id: 0,
            pending: VecDeque::new(),
        }
    }

    /// A client whose kernel receive buffer is pinned small: loopback
    /// autotuning would otherwise let it absorb tens of megabytes.
    async fn open_small_receive_buffer(base: &str) -> Ws {
        let addr = base.trim_start_matches("http://");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket
            .connect(addr.parse().expect("socket address"))
            .await
            .expect("tcp connects");
        let (ws, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/websocket"),
            MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("websocket opens");
        Ws {
            ws,
            next_id: 0,
            pending: VecDeque::new(),
        }
    }

    async fn connected(base: &str) -> Ws {
        Ws::handshake(Ws::open(base).await).await
    }

    async fn handshake(mut ws: Ws) -> Ws {
        ws.send(json!({"msg":"connect","version":"1","support":["1","pre2","pre1"]}))
            .await;
        let r = ws.recv().await;
        assert_eq!(r["msg"], "connected", "{r}");
        ws
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next JSON frame (server pings are answered and skipped).
    async fn recv(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("JSON frame");
                    if v["msg"] == "ping" {
                        self.send(json!({"msg":"pong"})).await;
                        continue;
                    }
                    return v;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Frames until one matches `pred` (returned); the others are returned too.
    async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let v = self.recv().await;
            if pred(&v) {
                return (v, skipped);
            }
            skipped.push(v);
        }
    }

    /// Like `recv_until`, but the skipped frames stay queued for later reads.
    async fn answer(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let (v, skipped) = self.recv_until(pred).await;
        for s in skipped.into_iter().rev() {
            self.pending.push_front(s);
        }
        v
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        self.send(json!({"msg":"method","method":method,"id":id,"params":params}))
            .await;
        let result = self
            .answer(|v| v["msg"] == "result" && v["id"] == id.as_str())
            .await;
        let updated = self.answer(|v| v["msg"] == "updated").await;
        assert_eq!(updated["methods"], json!([id]));
        result
    }

    async fn login(&mut self, user: &str, pw: &str) -> Value {
        let digest = ids::password_digest(pw);
        self.call(
            "login",
            json!([{"user":{"username":user},"password":{"digest":digest,"algorithm":"sha-256"}}]),
        )
        .await
    }

    async fn sub(&mut self, name: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("s{}", self.next_id);
        self.send(json!({"msg":"sub","id":id,"name":name,"params":params}))
            .await;
        self.answer(|v| {
            (v["msg"] == "ready" && v["subs"][0] == id.as_str())
                || (v["msg"] == "nosub" && v["id"] == id.as_str())
        })
        .await
    }

    /// Everything the server sent before a pong to this ping: a barrier.
    async fn drain(&mut self) -> Vec<Value> {
        self.next_id += 1;
        let id = format!("p{}", self.next_id);
        self.send(json!({"msg":"ping","id":id})).await;
        let (_, before) = self
            .recv_until(|v| v["msg"] == "pong" && v["id"] == id.as_str())
            .await;
        before
    }

    /// Reads until the connection ends.
    async fn ended(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the end in time")
            {
                Some(Ok(Message::Close(frame))) => {
                    return Ended::Close(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ended::Dropped,
            }
        }
    }
}

#[tokio::test]
async fn handshake_state_machine() {
    let s = start(|_| {});
    let url = &s.urls()[0];
    let mut ws = Ws::open(url).await;
    ws.send(json!({"msg":"method","method":"x","id":"1","params":[]}))
        .await;
    let r = ws.recv().await;
    assert_eq!(r["msg"], "error");
    assert_eq!(r["reason"], "Must connect first");
    assert_eq!(r["offendingMessage"]["method"], "x");
    ws.send_raw(Message::text("{not json")).await;
    assert_eq!(
        ws.recv().await,
        json!({"msg":"error","reason":"Parse error"})
    );
    ws.send(json!({"msg":"connect","version":"1","support":["1","pre2","pre1"]}))
        .await;
    let r = ws.recv().await;
    assert_eq!(r["msg"], "connected");
    assert_eq!(r["session"].as_str().map(str::len), Some(17));
    ws.send(json!({"msg":"connect","version":"1","support":["1"]}))
        .await;
    assert_eq!(ws.recv().await["reason"], "Already connected");
    ws.send(json!({"msg":"bogus"})).await;
    assert_eq!(ws.recv().await["reason"], "Bad request");
    ws.send(json!({"msg":"method","method":"x","id":7})).await;
    assert_eq!(ws.recv().await["reason"], "Malformed method invocation");
    ws.send(json!({"msg":"ping","id":"abc"})).await;
    assert_eq!(ws.recv().await, json!({"msg":"pong","id":"abc"}));
    ws.send(json!({"msg":"ping"})).await;
    assert_eq!(ws.recv().await, json!({"msg":"pong"}));
}

#[tokio::test]
async fn unsupported_version_fails() {
    let s = start(|_| {});
    let mut ws = Ws::open(&s.urls()[0]).await;
    ws.send(json!({"msg":"connect","version":"2","support":["2","1"]}))
        .await;
    assert_eq!(ws.recv().await, json!({"msg":"failed","version":"1"}));
    assert_eq!(ws.ended().await, Ended::Close(Some(1000)));
}

#[tokio::test]
async fn unknown_method_and_publication() {
    let s = start(|_| {});
    let mut ws = Ws::connected(&s.urls()[0]).await;
    let r = ws.call("nope", json!([])).await;
    assert_eq!(
        r["error"],
        json!({"isClientSafe":true,"error":404,"reason":"Method 'nope' not found",
               "message":"Method 'nope' not found [404]","errorType":"Meteor.Error"})
    );
    let r = ws.sub("foo", json!([])).await;
    assert_eq!(r["msg"], "nosub");
    assert_eq!(r["error"]["reason"], "Subscription 'foo' not found");
    assert_eq!(r["error"]["error"], 404);
    // Streams need a login; notify-all does not.
    let r = ws
        .sub(
            "stream-room-messages",
            json!(["GENERAL", {"useCollection":false,"args":[null]}]),
        )
        .await;
    assert_eq!(r["error"]["error"], "not-allowed");
    let r = ws
        .sub(
            "stream-notify-all",
            json!(["public-settings-changed", false]),
        )
        .await;
    assert_eq!(r["msg"], "ready");
    let r = ws.sub("meteor.loginServiceConfiguration", json!([])).await;
    assert_eq!(r["msg"], "ready");
    let r = ws
        .call("sendMessage", json!([{"rid":"GENERAL","msg":"x"}]))
        .await;
    assert_eq!(r["error"]["error"], "error-invalid-user");
}

#[tokio::test]
async fn login_by_digest_and_resume() {
    let s = start(|_| {});
    let mut ws = Ws::connected(&s.urls()[0]).await;
    let digest = ids::password_digest("pw");
    ws.send(json!({"msg":"method","method":"login","id":"42",
        "params":[{"user":{"username":"load-1"},"password":{"digest":digest,"algorithm":"sha-256"}}]}))
        .await;
    let added = ws.recv().await;
    assert_eq!(added["msg"], "added");
    assert_eq!(added["collection"], "users");
    assert_eq!(added["fields"]["username"], "load-1");
    let r = ws.recv().await;
    assert_eq!(r["msg"], "result");
    assert_eq!(r["result"]["type"], "password");
    assert!(r["result"]["tokenExpires"]["$date"].is_u64());
    let token = r["result"]["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 43);
    assert_eq!(ws.recv().await, json!({"msg":"updated","methods":["42"]}));
    let mut other = Ws::connected(&s.urls()[1]).await;
    let r = other.call("login", json!([{"resume": token}])).await;
    assert_eq!(r["result"]["type"], "resume");
    assert_eq!(r["result"]["id"], added["id"]);
    let r = other.login("load-1", "wrong").await;
    assert_eq!(r["error"]["error"], 401);
    assert_eq!(r["error"]["reason"], "User not found");
    let r = other.call("logout", json!([])).await;
    assert!(r.get("result").is_none());
}

#[tokio::test]
async fn messages_fan_out_across_instances_and_unsub_stops_them() {
    let s = start(|_| {});
    let mut a = Ws::connected(&s.urls()[0]).await;
    let mut b = Ws::connected(&s.urls()[1]).await;
    a.login("load-1", "pw").await;
    b.login("load-2", "pw").await;
    let params = json!(["GENERAL", {"useCollection":false,"args":[null]}]);
    assert_eq!(
        a.sub("stream-room-messages", params.clone()).await["msg"],
        "ready"
    );
    assert_eq!(b.sub("stream-room-messages", params).await["msg"], "ready");
    let sub_id = format!("s{}", b.next_id);
    let r = a
        .call(
            "sendMessage",
            json!([{"_id":"m1","rid":"GENERAL","msg":"hello"}]),
        )
        .await;
    assert_eq!(r["result"]["_id"], "m1");
    assert!(r["result"]["ts"]["$date"].is_u64());
    for ws in [&mut a, &mut b] {
        let (ev, _) = ws.recv_until(|v| v["msg"] == "changed").await;
        assert_eq!(ev["collection"], "stream-room-messages");
        assert_eq!(ev["id"], "id");
        assert_eq!(ev["fields"]["eventName"], "GENERAL");
        assert_eq!(ev["fields"]["args"][0]["msg"], "hello");
        assert_eq!(ev["fields"]["args"][0]["u"]["username"], "load-1");
    }
    b.send(json!({"msg":"unsub","id":sub_id})).await;
    assert_eq!(b.recv().await, json!({"msg":"nosub","id":sub_id}));
    a.call("sendMessage", json!([{"rid":"GENERAL","msg":"again"}]))
        .await;
    a.recv_until(|v| v["msg"] == "changed").await;
    assert!(b.drain().await.iter().all(|v| v["msg"] != "changed"));
    let stats = s.stats();
    assert_eq!(stats["messages_stored"], 2);
    assert_eq!(stats["deliveries"], 3);
    assert_eq!(stats["sessions"], 2);
}

#[tokio::test]
async fn typing_cross_emits_without_echo() {
    let s = start(|_| {});
    let mut a = Ws::connected(&s.urls()[0]).await;
    let mut b = Ws::connected(&s.urls()[1]).await;
    a.login("load-1", "pw").await;
    b.login("load-2", "pw").await;
    for ws in [&mut a, &mut b] {
        for ev in ["GENERAL/user-activity", "GENERAL/typing"] {
            assert_eq!(
                ws.sub("stream-notify-room", json!([ev, false])).await["msg"],
                "ready"
            );
        }
    }
    let r = a
        .call(
            "stream-notify-room",
            json!(["GENERAL/user-activity", "load-1", ["user-typing"], {}]),
        )
        .await;
    assert!(r.get("error").is_none(), "{r}");
    let mut got = b.drain().await;
    got.retain(|v| v["msg"] == "changed");
    got.sort_by_key(|v| v["fields"]["eventName"].as_str().map(str::to_string));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["fields"]["args"], json!(["load-1", true]));
    assert_eq!(
        got[1]["fields"]["args"],
        json!(["load-1", ["user-typing"], {}])
    );
    assert!(
        a.drain().await.iter().all(|v| v["msg"] != "changed"),
        "no echo to the writer"
    );
    // Someone else's name is dropped silently.
    a.call(
        "stream-notify-room",
        json!(["GENERAL/typing", "load-2", true]),
    )
    .await;
    assert!(b.drain().await.iter().all(|v| v["msg"] != "changed"));
}

#[tokio::test]
async fn user_streams_and_presence() {
    let s = start(|_| {});
    let mut a = Ws::connected(&s.urls()[0]).await;
    let mut b = Ws::connected(&s.urls()[0]).await;
    let login = a.login("load-1", "pw").await;
    let uid_a = login["result"]["id"].as_str().unwrap().to_string();
    let uid_b = b.login("load-2", "pw").await["result"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = format!("{uid_b}/subscriptions-changed");
    assert_eq!(
        b.sub("stream-notify-user", json!([ev, false])).await["msg"],
        "ready"
    );
    let foreign = format!("{uid_a}/subscriptions-changed");
    assert_eq!(
        b.sub("stream-notify-user", json!([foreign, false])).await["error"]["error"],
        "not-allowed"
    );
    assert_eq!(
        b.sub("stream-notify-logged", json!(["user-status", false]))
            .await["msg"],
        "ready"
    );
    assert_eq!(
        b.sub("stream-user-presence", json!(["", {"added":[uid_a]}]))
            .await["msg"],
        "ready"
    );
    assert_eq!(
        b.sub("stream-user-presence", json!(["", {"added":[]}]))
            .await["msg"],
        "nosub"
    );
    assert_eq!(
        b.sub("stream-room-messages", json!(["__my_messages__", false]))
            .await["msg"],
        "ready"
    );
    a.call("sendMessage", json!([{"rid":"GENERAL","msg":"hi"}]))
        .await;
    a.call("UserPresence:setDefaultStatus", json!(["busy"]))
        .await;
    let got = b.drain().await;
    let find = |pred: &dyn Fn(&Value) -> bool| got.iter().find(|v| pred(v)).cloned();
    let sub_changed =
        find(&|v| v["fields"]["eventName"] == ev.as_str()).expect("subscriptions-changed");
    assert_eq!(sub_changed["fields"]["args"][0], "updated");
    assert_eq!(sub_changed["fields"]["args"][1]["unread"], 1);
    let mine = find(&|v| v["fields"]["eventName"] == "GENERAL").expect("__my_messages__ delivery");
    assert_eq!(mine["fields"]["args"][0]["msg"], "hi");
    let status = find(&|v| v["fields"]["eventName"] == "user-status").expect("user-status");
    assert_eq!(status["fields"]["args"][0][0], uid_a.as_str());
    assert_eq!(status["fields"]["args"][0][2], 3);
    let presence = find(&|v| v["collection"] == "stream-user-presence").expect("presence");
    assert_eq!(presence["id"], uid_a.as_str());
    assert_eq!(presence["fields"]["args"][0], json!(["load-1", 3, ""]));
}

/// Presence follows the connections: a user's first login brings it
/// online, its last disconnect offline, on `user-status` and on its
/// `stream-user-presence` topic.
#[tokio::test]
async fn automatic_presence_is_broadcast() {
    let s = start(|_| {});
    let mut watcher = Ws::connected(&s.urls()[0]).await;
    watcher.login("load-2", "pw").await;
    let mut a = Ws::connected(&s.urls()[1]).await;
    let uid_a = a.login("load-1", "pw").await["result"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        watcher
            .sub("stream-notify-logged", json!(["user-status", false]))
            .await["msg"],
        "ready"
    );
    let status_of = |v: &Value| match v["fields"]["eventName"].as_str() {
        Some("user-status") if v["fields"]["args"][0][0] == uid_a.as_str() => {
            v["fields"]["args"][0][2].as_u64()
        }
        _ => None,
    };
    // The server handles a close on its own time: wait for the offline
    // event, so it cannot arrive among the events asserted below.
    a.ws.close(None).await.unwrap();
    drop(a);
    watcher.recv_until(|v| status_of(v) == Some(0)).await;
    assert_eq!(
        watcher
            .sub("stream-user-presence", json!(["", {"added":[uid_a]}]))
            .await["msg"],
        "ready"
    );
    // Online (1) on the first login; a second connection changes nothing.
    let mut a = Ws::connected(&s.urls()[1]).await;
    a.login("load-1", "pw").await;
    let mut a2 = Ws::connected(&s.urls()[0]).await;
    a2.login("load-1", "pw").await;
    let got = watcher.drain().await;
    let seen: Vec<u64> = got.iter().filter_map(status_of).collect();
    assert_eq!(seen, vec![1], "{got:?}");
    let presence = got
        .iter()
        .find(|v| v["collection"] == "stream-user-presence")
        .expect("presence event");
    assert_eq!(presence["fields"]["args"][0], json!(["load-1", 1, ""]));
    // Offline (0) only when the last connection goes.
    a2.ws.close(None).await.unwrap();
    drop(a2);
    assert!(watcher.drain().await.iter().all(|v| status_of(v).is_none()));
    a.ws.close(None).await.unwrap();
    drop(a);
    let (offline, _) = watcher.recv_until(|v| status_of(v).is_some()).await;
    assert_eq!(status_of(&offline), Some(0));
}

#[tokio::test]
async fn methods_for_rooms_and_history() {
    let s = start(|_| {});
    let mut a = Ws::connected(&s.urls()[0]).await;
    a.login("load-1", "pw").await;
    let r = a
        .call("createChannel", json!(["ddp-room", ["load-2"], false]))
        .await;
    let rid = r["result"]["rid"].as_str().unwrap().to_string();
    for i in 0..3 {
        a.call("sendMessage", json!([{"rid": rid, "msg": format!("m{i}")}]))
            .await;
    }
    let h = a
        .call("loadHistory", json!([rid, null, 2, {"$date": 0}]))
        .await;
    let msgs = h["result"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["msg"], "m2");
    let rooms = a.call("rooms/get", json!([])).await;
    assert!(
        rooms["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["_id"] == rid.as_str())
    );
    let subs = a.call("subscriptions/get", json!([{"$date": 0}])).await;
    assert!(subs["result"]["update"].is_array());
    let mut b = Ws::connected(&s.urls()[1]).await;
    b.login("load-3", "pw").await;
    assert_eq!(b.call("joinRoom", json!([rid])).await["result"], true);
    assert!(
        b.call("readMessages", json!([rid]))
            .await
            .get("error")
            .is_none()
    );
    for m in [
        "public-settings/get",
        "permissions/get",
        "listCustomSounds",
        "listCustomUserStatus",
        "license:getModules",
    ] {
        assert!(b.call(m, json!([])).await["result"].is_array(), "{m}");
    }
    assert_eq!(
        b.call("license:isEnterprise", json!([])).await["result"],
        false
    );
    assert_eq!(
        b.call("setUserStatus", json!(["away", "brb"]))
            .await
            .get("error"),
        None
    );
}

#[tokio::test]
async fn binary_and_oversized_frames_close() {
    let s = start(|c| c.max_frame_bytes = 2048);
    let mut ws = Ws::connected(&s.urls()[0]).await;
    ws.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(ws.ended().await, Ended::Close(Some(1007)));
    let mut ws = Ws::connected(&s.urls()[0]).await;
    ws.send_raw(Message::text("x".repeat(4096))).await;
    assert_eq!(ws.ended().await, Ended::Close(Some(1009)));
    // The instance is still fine.
    let mut ws = Ws::connected(&s.urls()[0]).await;
    assert!(ws.drain().await.is_empty());
}

#[tokio::test]
async fn drop_connections_fault_closes_every_socket() {
    let s = start(|_| {});
    let mut a = Ws::connected(&s.urls()[0]).await;
    let mut b = Ws::connected(&s.urls()[1]).await;
    s.apply_fault(&json!({"kind":"drop_connections"})).unwrap();
    assert_eq!(a.ended().await, Ended::Close(Some(1001)));
    assert_eq!(b.ended().await, Ended::Close(Some(1001)));
}

#[tokio::test]
async fn slow_consumer_is_disconnected() {
    let s = start(|c| {
        c.max_frame_bytes = 16 * 1024;
        c.max_send_buffer_bytes = 32 * 1024;
    });
    let url = &s.urls()[0];
    // A reader that subscribes and then stops reading.
    let mut slow = Ws::handshake(Ws::open_small_receive_buffer(url).await).await;
    slow.login("load-2", "pw").await;
    slow.sub("stream-room-messages", json!(["GENERAL", false]))
        .await;
    let mut fast = Ws::connected(&s.urls()[1]).await;
    fast.login("load-1", "pw").await;
    let text = "y".repeat(4900);
    let mut sessions = 2;
    // Bounded: loopback buffers hold a few MB; 4000 x 5 KB is well past that.
    for _ in 0..4000 {
        fast.call("sendMessage", json!([{"rid":"GENERAL","msg":text}]))
            .await;
        sessions = s.stats()["sessions"].as_i64().unwrap_or(0);
        if sessions < 2 {
            break;
        }
    }
    assert_eq!(sessions, 1, "the slow session was closed");
    match slow.ended().await {
        Ended::Close(code) => assert_eq!(code, Some(1013)),
        Ended::Dropped => {}
    }
}

#[tokio::test]
async fn heartbeat_pings_then_closes_a_silent_client() {
    let mut cfg = ServerConfig::embedded();
    cfg.seed.users = 1;
    let s = server::start_with_heartbeat(cfg, Duration::from_millis(200)).expect("server starts");
    let mut ws = Ws::connected(&s.urls()[0]).await;
    // Raw reads: the helper would answer the ping.
    let first = tokio::time::timeout(WAIT, ws.ws.next())
        .await
        .expect("a ping in time");
    match first {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), r#"{"msg":"ping"}"#),
        other => panic!("expected a ping, got {other:?}"),
    }
    assert_eq!(ws.ended().await, Ended::Close(Some(1000)));
}

#[tokio::test]
async fn heartbeat_keeps_an_answering_client() {
    let s = server::start_with_heartbeat(ServerConfig::embedded(), Duration::from_millis(300))
        .expect("server starts");
    let mut ws = Ws::connected(&s.urls()[0]).await;
    // Answer three server pings; the session must outlive them.
    for _ in 0..3 {
        match tokio::time::timeout(WAIT, ws.ws.next())
            .await
            .expect("a ping in time")
        {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), r#"{"msg":"ping"}"#),
            other => panic!("expected a ping, got {other:?}"),
        }
        ws.send(json!({"msg":"pong"})).await;
    }
    assert!(ws.drain().await.is_empty());
}

#[tokio::test]
async fn lost_deliveries_are_skipped_and_counted() {
    let s = start(|_| {});
    let mut a = Ws::connected(&s.urls()[0]).await;
    let mut b = Ws::connected(&s.urls()[1]).await;
    a.login("load-1", "pw").await;
    b.login("load-2", "pw").await;
    assert_eq!(
        b.sub("stream-room-messages", json!(["GENERAL", false]))
            .await["msg"],
        "ready"
    );
    s.apply_fault(&json!({"kind":"lose_messages","ratio":1.0}))
        .unwrap();
    a.call("sendMessage", json!([{"rid":"GENERAL","msg":"lost"}]))
        .await;
    assert!(b.drain().await.iter().all(|v| v["msg"] != "changed"));
    let stats = s.stats();
    assert_eq!(stats["deliveries_lost"], 1);
    assert_eq!(stats["deliveries"], 0);
    s.apply_fault(&json!({"kind":"clear"})).unwrap();
    a.call("sendMessage", json!([{"rid":"GENERAL","msg":"kept"}]))
        .await;
    let (ev, _) = b.recv_until(|v| v["msg"] == "changed").await;
    assert_eq!(ev["fields"]["args"][0]["msg"], "kept");
}
