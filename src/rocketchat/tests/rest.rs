use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::{closed_port, config};
use crate::rocketchat::{ClientConfig, RcError, Rest, Session};

type Reply = (StatusCode, Json<Value>);

fn ok(v: Value) -> Reply {
    (StatusCode::OK, Json(v))
}

async fn login(Json(body): Json<Value>) -> Reply {
    let good = body["password"] == "secret" && body["user"] == "alice" || body["resume"] == "tok";
    if good {
        ok(
            json!({"status":"success","data":{"userId":"u1","authToken":"tok","me":{"_id":"u1","username":"alice"}},"success":true}),
        )
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"success":false,"error":"Unauthorized","status":"error","message":"Unauthorized"}),
            ),
        )
    }
}

async fn me(headers: HeaderMap) -> Reply {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    if h("x-user-id") == "u1" && h("x-auth-token") == "tok" {
        ok(json!({"_id":"u1","username":"alice","custom":h("x-load"),"success":true}))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"success":false,"error":"You must be logged in to do this.","status":"error","message":"You must be logged in to do this."}),
            ),
        )
    }
}

async fn channels_info(Query(q): Query<HashMap<String, String>>) -> Reply {
    match q.get("roomName").map(String::as_str) {
        Some("general") => ok(json!({"channel":{"_id":"GENERAL","name":"general"},"success":true})),
        _ => (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"success":false,"error":"The required \"roomId\" or \"roomName\" param provided does not match any channel [error-room-not-found]","errorType":"error-room-not-found"}),
            ),
        ),
    }
}

async fn method_call(Path(method): Path<String>, Json(body): Json<Value>) -> Reply {
    let inner: Value = serde_json::from_str(body["message"].as_str().unwrap_or("")).unwrap();
    assert_eq!(inner["method"], method.as_str());
    let reply = if method == "boom" {
        json!({"msg":"result","id":inner["id"],"error":{"isClientSafe":true,"error":"error-action-not-allowed","reason":"Not allowed","message":"Not allowed [error-action-not-allowed]","errorType":"Meteor.Error"}})
    } else {
        json!({"msg":"result","id":inner["id"],"result":{"echo":inner["params"],"ts":{"$date":5}}})
    };
    ok(json!({"message": reply.to_string(), "success": true}))
}

async fn serve() -> String {
    let app = Router::new()
        .route("/api/info", get(|| async { ok(json!({"version":"7.10","success":true})) }))
        .route("/api/v1/login", post(login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/channels.info", get(channels_info))
        .route(
            "/api/v1/channels.create",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"success":false,"error":"A channel with name 'x' exists [error-duplicate-channel-name]","errorType":"error-duplicate-channel-name"})),
                )
            }),
        )
        .route(
            "/api/v1/rooms.get",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"success":false,"error":"Error, too many requests. Please slow down. You must wait 55 seconds before trying this endpoint again. [error-too-many-requests]"})),
                )
            }),
        )
        .route(
            "/api/v1/subscriptions.read",
            post(|| async { ok(json!({"success":false,"error":"odd"})) }),
        )
        .route("/api/v1/method.call/{method}", post(method_call))
        .route("/api/v1/method.callAnon/{method}", post(method_call));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn http_error(e: RcError) -> (u16, String, Option<String>) {
    match e {
        RcError::Http {
            status,
            endpoint,
            error,
            ..
        } => (status, endpoint, error),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

#[tokio::test]
async fn login_and_authenticated_requests() {
    let url = serve().await;
    let cfg = ClientConfig {
        headers: vec![("X-Load".into(), "rl".into())],
        ..config()
    };
    let mut rest = Rest::new(&url, &cfg).unwrap();
    assert_eq!(rest.info().await.unwrap()["version"], "7.10");
    let (status, endpoint, error) = http_error(rest.me().await.unwrap_err());
    assert_eq!((status, endpoint.as_str()), (401, "/api/v1/me"));
    assert_eq!(error.as_deref(), Some("You must be logged in to do this."));

    let s = rest.login("alice", "secret").await.unwrap();
    assert_eq!(
        s,
        Session {
            user_id: "u1".into(),
            token: "tok".into(),
            username: "alice".into()
        }
    );
    rest.set_session(Some(s));
    let me = rest.me().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["custom"].as_str()),
        (Some("alice"), Some("rl"))
    );
    assert_eq!(rest.login_resume("tok").await.unwrap().user_id, "u1");
    let (status, _, error) = http_error(rest.login("alice", "wrong").await.unwrap_err());
    assert_eq!((status, error.as_deref()), (401, Some("Unauthorized")));

    // `request` returns any status without turning it into an error.
    let r = rest
        .request("GET", "/api/v1/me", None, &[], false)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(!r.is_success());
}

#[tokio::test]
async fn rocket_chat_error_shapes() {
    let url = serve().await;
    let rest = Rest::new(&url, &config()).unwrap();
    let (status, endpoint, error) = http_error(rest.channels_create("x", &[]).await.unwrap_err());
    assert_eq!(
        (status, endpoint.as_str()),
        (400, "/api/v1/channels.create")
    );
    assert_eq!(error.as_deref(), Some("error-duplicate-channel-name"));
    let (status, _, error) = http_error(rest.rooms_get().await.unwrap_err());
    assert_eq!(status, 429);
    assert!(error.unwrap().ends_with("[error-too-many-requests]"));
    // 200 with success:false is an error too.
    let (status, _, error) = http_error(rest.subscriptions_read("r").await.unwrap_err());
    assert_eq!((status, error.as_deref()), (200, Some("odd")));
    // Unknown route: axum's empty 404.
    let (status, _, error) = http_error(
        rest.call_json("GET", "nothing.here", None)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, error), (404, None));
    assert_eq!(
        rest.channels_info("general").await.unwrap().as_deref(),
        Some("GENERAL")
    );
    assert_eq!(rest.channels_info("nope").await.unwrap(), None);
}

#[tokio::test]
async fn method_call_unwraps_result_and_inner_errors() {
    let url = serve().await;
    let rest = Rest::new(&url, &config()).unwrap();
    let v = rest
        .method_call(
            "loadHistory",
            vec![json!("GENERAL"), Value::Null, json!(50)],
            false,
        )
        .await
        .unwrap();
    assert_eq!(v, json!({"echo":["GENERAL",null,50],"ts":{"$date":5}}));
    let v = rest
        .method_call("public-settings/get", vec![], true)
        .await
        .unwrap();
    assert_eq!(v["echo"], json!([]));
    match rest.method_call("boom", vec![], false).await {
        Err(RcError::Ddp {
            method,
            code,
            reason,
        }) => {
            assert_eq!(method, "boom");
            assert_eq!(code, "error-action-not-allowed");
            assert_eq!(reason, "Not allowed");
        }
        other => panic!("expected a DDP error, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_and_invalid_targets() {
    let rest = Rest::new(&format!("http://127.0.0.1:{}", closed_port()), &config()).unwrap();
    let err = rest.info().await.unwrap_err();
    assert!(
        matches!(err, RcError::Connect { refused: true, .. }),
        "{err:?}"
    );
    assert!(matches!(
        Rest::new("ftp://x", &config()),
        Err(RcError::Protocol(_))
    ));
    let bad_header = ClientConfig {
        headers: vec![("bad header".into(), "v".into())],
        ..config()
    };
    assert!(Rest::new("http://127.0.0.1:1", &bad_header).is_err());
}

#[tokio::test]
async fn slow_server_is_a_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts and never answers.
    let hold = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        drop(s);
    });
    let cfg = ClientConfig {
        timeout: std::time::Duration::from_millis(200),
        ..config()
    };
    let rest = Rest::new(&url, &cfg).unwrap();
    let err = rest.info().await.unwrap_err();
    assert!(matches!(err, RcError::Timeout { .. }), "{err:?}");
    hold.abort();
}

#[tokio::test]
async fn source_ip_is_bound() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    let app = Router::new().route(
        "/api/info",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            ok(json!({"peer": peer.ip().to_string(), "success": true}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let cfg = ClientConfig {
        source_ip: Some("127.0.0.3".parse().unwrap()),
        ..config()
    };
    let info = Rest::new(&url, &cfg).unwrap().info().await.unwrap();
    assert_eq!(info["peer"], "127.0.0.3");
}
