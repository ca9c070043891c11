use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{closed_port, config};
use crate::rocketchat::{Ddp, DdpEvent, EventSink, RcError, password_digest};

type Ws = WebSocketStream<TcpStream>;

/// Records what the reader hands over, as short strings.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventSink for Recorder {
    fn event(&self, ev: DdpEvent<'_>) {
        let line = match ev {
            DdpEvent::Changed {
                collection,
                event_name,
                args,
            } => format!("{collection} {event_name} {}", Value::from(args.to_vec())),
            DdpEvent::Closed { code } => format!("closed {code:?}"),
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("server: socket ended: {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// A one-connection DDP server: accepts, answers the handshake (with both
/// `server_id` forms first), then runs `script`.
async fn serve<F, Fut>(script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let hello = recv(&mut ws).await;
        assert_eq!(
            hello,
            json!({"msg":"connect","version":"1","support":["1","pre2","pre1"]})
        );
        send(&mut ws, json!({"server_id":"0"})).await;
        send(&mut ws, json!({"msg":"server_id","server_id":"0"})).await;
        send(&mut ws, json!({"msg":"connected","session":"s1"})).await;
        script(ws).await;
    });
    (url, task)
}

async fn connect(url: &str) -> (Ddp, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let ddp = Ddp::connect(url, &config(), rec.clone()).await.unwrap();
    (ddp, rec)
}

#[tokio::test]
async fn result_before_updated_resolves_call() {
    let (url, server) = serve(|mut ws| async move {
        let m = recv(&mut ws).await;
        assert_eq!(m["msg"], "method");
        assert_eq!(m["method"], "sendMessage");
        assert_eq!(m["params"], json!([{"rid":"GENERAL","msg":"hi"}]));
        let id = m["id"].clone();
        send(
            &mut ws,
            json!({"msg":"result","id":id,"result":{"_id":"m1","ts":{"$date":1}}}),
        )
        .await;
        send(&mut ws, json!({"msg":"updated","methods":[id]})).await;
        // A method with no result.
        let m = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"result","id":m["id"]})).await;
        send(&mut ws, json!({"msg":"updated","methods":[m["id"]]})).await;
        let _ = ws.next().await;
    })
    .await;
    let (ddp, _) = connect(&url).await;
    let r = ddp
        .call("sendMessage", vec![json!({"rid":"GENERAL","msg":"hi"})])
        .await
        .unwrap();
    assert_eq!(r, json!({"_id":"m1","ts":{"$date":1}}));
    assert_eq!(ddp.call("readMessages", vec![]).await.unwrap(), Value::Null);
    ddp.close().await;
    server.await.unwrap();
}

#[tokio::test]
async fn updated_before_result_resolves_call() {
    let (url, server) = serve(|mut ws| async move {
        let m = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"updated","methods":[m["id"]]})).await;
        send(&mut ws, json!({"msg":"result","id":m["id"],"result":42})).await;
        let _ = ws.next().await;
    })
    .await;
    let (ddp, _) = connect(&url).await;
    assert_eq!(ddp.call("x", vec![]).await.unwrap(), json!(42));
    ddp.close().await;
    server.await.unwrap();
}

#[tokio::test]
async fn server_ping_gets_pong_with_id() {
    let (url, server) = serve(|mut ws| async move {
        send(&mut ws, json!({"msg":"ping","id":"abc"})).await;
        assert_eq!(recv(&mut ws).await, json!({"msg":"pong","id":"abc"}));
        send(&mut ws, json!({"msg":"ping"})).await;
        assert_eq!(recv(&mut ws).await, json!({"msg":"pong"}));
    })
    .await;
    let (ddp, _) = connect(&url).await;
    // The server hangs up once both pongs were right.
    server.await.unwrap();
    ddp.closed().await;
}

#[tokio::test]
async fn method_error_is_ddp_error_with_code() {
    let (url, server) = serve(|mut ws| async move {
        let m = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"result","id":m["id"],"error":{"isClientSafe":true,"error":404,"reason":"Method 'nope' not found","message":"Method 'nope' not found [404]","errorType":"Meteor.Error"}})).await;
        let m = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"result","id":m["id"],"error":{"error":"too-many-requests","reason":"slow down","details":{"timeToReset":900}}})).await;
        let _ = ws.next().await;
    })
    .await;
    let (ddp, _) = connect(&url).await;
    match ddp.call("nope", vec![]).await {
        Err(RcError::Ddp {
            method,
            code,
            reason,
        }) => {
            assert_eq!((method.as_str(), code.as_str()), ("nope", "404"));
            assert_eq!(reason, "Method 'nope' not found");
        }
        other => panic!("expected a DDP error, got {other:?}"),
    }
    let err = ddp.call("sendMessage", vec![]).await.unwrap_err();
    assert!(matches!(err, RcError::Ddp { ref code, .. } if code == "too-many-requests"));
    ddp.close().await;
    server.await.unwrap();
}

#[tokio::test]
async fn subscribe_ready_events_nosub_and_unsubscribe() {
    let (url, server) = serve(|mut ws| async move {
        let s = recv(&mut ws).await;
        assert_eq!(s["msg"], "sub");
        assert_eq!(s["name"], "stream-room-messages");
        assert_eq!(s["params"], json!(["GENERAL", {"useCollection":false,"args":[]}]));
        send(&mut ws, json!({"msg":"ready","subs":[s["id"]]})).await;
        send(&mut ws, json!({"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"GENERAL","args":[{"_id":"m1","msg":"hello"}]}})).await;
        let bad = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"nosub","id":bad["id"],"error":{"isClientSafe":true,"error":404,"reason":"Subscription 'foo' not found","message":"Subscription 'foo' not found [404]","errorType":"Meteor.Error"}})).await;
        let unsub = recv(&mut ws).await;
        assert_eq!(unsub, json!({"msg":"unsub","id":s["id"]}));
        send(&mut ws, json!({"msg":"nosub","id":s["id"]})).await;
        let _ = ws.next().await;
    })
    .await;
    let (ddp, rec) = connect(&url).await;
    let sub = ddp
        .subscribe(
            "stream-room-messages",
            vec![json!("GENERAL"), json!({"useCollection":false,"args":[]})],
        )
        .await
        .unwrap();
    match ddp.subscribe("foo", vec![]).await {
        Err(RcError::Nosub { name, code, reason }) => {
            assert_eq!((name.as_str(), code.as_str()), ("foo", "404"));
            assert_eq!(reason, "Subscription 'foo' not found");
        }
        other => panic!("expected nosub, got {other:?}"),
    }
    // The event was read before the nosub, so the sink already has it.
    assert_eq!(
        rec.lines(),
        vec![r#"stream-room-messages GENERAL [{"_id":"m1","msg":"hello"}]"#.to_owned()]
    );
    ddp.unsubscribe(&sub).await.unwrap();
    ddp.close().await;
    assert_eq!(rec.lines().last().unwrap(), "closed Some(1000)");
    server.await.unwrap();
}

#[tokio::test]
async fn password_and_resume_login() {
    let (url, server) = serve(|mut ws| async move {
        let m = recv(&mut ws).await;
        assert_eq!(m["method"], "login");
        assert_eq!(
            m["params"],
            json!([{"user":{"username":"alice"},"password":{"digest":password_digest("secret"),"algorithm":"sha-256"}}])
        );
        send(&mut ws, json!({"msg":"added","collection":"users","id":"u1","fields":{"username":"alice"}})).await;
        send(&mut ws, json!({"msg":"result","id":m["id"],"result":{"id":"u1","token":"t1","tokenExpires":{"$date":1},"type":"password"}})).await;
        let m = recv(&mut ws).await;
        assert_eq!(m["params"], json!([{"resume":"t1"}]));
        send(&mut ws, json!({"msg":"added","collection":"users","id":"u2","fields":{"username":"bob","name":"Bob"}})).await;
        send(&mut ws, json!({"msg":"updated","methods":[m["id"]]})).await;
        send(&mut ws, json!({"msg":"result","id":m["id"],"result":{"id":"u2","token":"t2","type":"resume"}})).await;
        let _ = ws.next().await;
    })
    .await;
    let (ddp, _) = connect(&url).await;
    let s = ddp.login_password("alice", "secret").await.unwrap();
    assert_eq!(
        (s.user_id.as_str(), s.token.as_str(), s.username.as_str()),
        ("u1", "t1", "alice")
    );
    let s = ddp.login_resume("t1").await.unwrap();
    assert_eq!(
        (s.user_id.as_str(), s.token.as_str(), s.username.as_str()),
        ("u2", "t2", "bob")
    );
    ddp.close().await;
    server.await.unwrap();
}

#[tokio::test]
async fn drop_fails_pending_calls_and_tells_the_sink() {
    let (url, server) = serve(|mut ws| async move {
        let _ = recv(&mut ws).await; // the call, never answered
        ws.close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    })
    .await;
    let (ddp, rec) = connect(&url).await;
    match ddp.call("slow", vec![]).await {
        Err(RcError::Closed { code, .. }) => assert_eq!(code, Some(1001)),
        other => panic!("expected Closed, got {other:?}"),
    }
    ddp.closed().await;
    assert!(ddp.is_closed());
    assert_eq!(rec.lines(), vec!["closed Some(1001)".to_owned()]);
    // Calls after the close fail at once.
    assert!(matches!(
        ddp.call("x", vec![]).await,
        Err(RcError::Closed { .. })
    ));
    server.await.unwrap();
}

#[tokio::test]
async fn abrupt_tcp_drop_fails_pending_call() {
    let (url, server) = serve(|mut ws| async move {
        let _ = recv(&mut ws).await;
        drop(ws); // no close frame
    })
    .await;
    let (ddp, rec) = connect(&url).await;
    assert!(matches!(
        ddp.call("slow", vec![]).await,
        Err(RcError::Closed { code: None, .. })
    ));
    ddp.closed().await;
    assert_eq!(rec.lines(), vec!["closed None".to_owned()]);
    server.await.unwrap();
}

#[tokio::test]
async fn unanswered_call_times_out_and_connection_survives() {
    let (url, server) = serve(|mut ws| async move {
        let _ignored = recv(&mut ws).await;
        let m = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"result","id":m["id"],"result":"ok"})).await;
        let _ = ws.next().await;
    })
    .await;
    let cfg = crate::rocketchat::ClientConfig {
        timeout: Duration::from_millis(200),
        ..config()
    };
    let ddp = Ddp::connect(&url, &cfg, Arc::new(Recorder::default()))
        .await
        .unwrap();
    assert!(matches!(
        ddp.call("never", vec![]).await,
        Err(RcError::Timeout { .. })
    ));
    assert_eq!(ddp.call("later", vec![]).await.unwrap(), json!("ok"));
    ddp.close().await;
    server.await.unwrap();
}

#[tokio::test]
async fn failed_handshake_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _ = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"failed","version":"1"})).await;
    });
    let err = Ddp::connect(&url, &config(), Arc::new(Recorder::default()))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, RcError::Protocol(_)), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn refused_connection_is_connect_refused() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let err = Ddp::connect(&url, &config(), Arc::new(Recorder::default()))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, RcError::Connect { refused: true, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn source_ip_is_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, peer) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _ = recv(&mut ws).await;
        send(&mut ws, json!({"msg":"connected","session":"s"})).await;
        let _ = ws.next().await;
        peer
    });
    let cfg = crate::rocketchat::ClientConfig {
        source_ip: Some("127.0.0.2".parse().unwrap()),
        ..config()
    };
    let ddp = Ddp::connect(&url, &cfg, Arc::new(Recorder::default()))
        .await
        .unwrap();
    ddp.close().await;
    let peer = server.await.unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.2");
}

fn future_size<F: std::future::Future>(_: &F) -> usize {
    std::mem::size_of::<F>()
}

/// A virtual user's task embeds the futures it awaits: they must stay small
/// for 10,000 idle users to fit the memory budget (32 KiB each).
#[tokio::test]
async fn client_futures_stay_small() {
    let sink: Arc<dyn EventSink> = Arc::new(Recorder::default());
    assert!(future_size(&Ddp::connect("http://127.0.0.1:1", &config(), sink)) <= 1024);
    let (url, server) = serve(|mut ws| async move {
        let _ = ws.next().await;
    })
    .await;
    let (ddp, _) = connect(&url).await;
    assert!(future_size(&ddp.call("m", vec![])) <= 2048);
    assert!(future_size(&ddp.subscribe("s", vec![])) <= 2048);
    assert!(future_size(&ddp.login_password("u", "p")) <= 2048);
    let rest = crate::rocketchat::Rest::new(&url, &config()).unwrap();
    assert!(future_size(&rest.post_message("r", "t")) <= 4096);
    ddp.close().await;
    server.await.unwrap();
}

/// Like `@rocket.chat/ddp-client`: a ping after 30 s of silence, and the
/// connection dropped after 60 s without any frame (paused clock).
#[tokio::test(start_paused = true)]
async fn silent_server_gets_a_ping_then_is_dropped() {
    let (url, server) = serve(|mut ws| async move {
        assert_eq!(recv(&mut ws).await, json!({"msg":"ping"}));
        // Stay silent: the next thing is the end of the connection.
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => panic!("unexpected frame {t}"),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => break,
            }
        }
    })
    .await;
    let cfg = crate::rocketchat::ClientConfig {
        timeout: Duration::ZERO,
        ..config()
    };
    let rec = Arc::new(Recorder::default());
    let ddp = Ddp::connect(&url, &cfg, rec.clone()).await.unwrap();
    let started = tokio::time::Instant::now();
    ddp.closed().await;
    assert!(started.elapsed() >= Duration::from_secs(60));
    assert_eq!(rec.lines(), vec!["closed None".to_owned()]);
    server.await.unwrap();
}

/// A server that keeps talking is never pinged by the client.
#[tokio::test(start_paused = true)]
async fn chatty_server_is_not_pinged() {
    let (url, server) = serve(|mut ws| async move {
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(20)).await;
            send(&mut ws, json!({"msg":"ping","id":"s"})).await;
            assert_eq!(recv(&mut ws).await, json!({"msg":"pong","id":"s"}));
        }
    })
    .await;
    let cfg = crate::rocketchat::ClientConfig {
        timeout: Duration::ZERO,
        ..config()
    };
    let (ddp, _) = {
        let rec = Arc::new(Recorder::default());
        (Ddp::connect(&url, &cfg, rec.clone()).await.unwrap(), rec)
    };
    server.await.unwrap();
    ddp.close().await;
}
