//! The REST client's HTTP/1.1 connections against a scripted raw TCP
//! server: keep-alive reuse, servers that close, chunked bodies, broken
//! responses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::config;
use crate::rocketchat::{RcError, Rest};

/// What the server does after reading a request on a connection.
#[derive(Clone, Copy)]
enum Then {
    /// Answers with keep-alive and waits for the next request.
    KeepAlive,
    /// Answers, then closes the socket without saying so.
    Close,
    /// Answers with `Connection: close`, then closes.
    SayClose,
    /// Answers with a chunked body, keep-alive.
    Chunked,
    /// Promises 100 bytes, sends 10, closes.
    Truncate,
    /// `100 Continue` first, then the answer, keep-alive.
    Continue,
    /// HTTP/1.0, the body delimited by the close.
    UntilClose,
}

/// Reads one request head (and a Content-Length body); false at EOF.
async fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return false,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.is_ok()
}

const BODY: &str = r#"{"success":true,"n":1}"#;

/// Serves with `plan[i]` on the i-th connection (the last entry repeats);
/// returns the base URL and the number of connections accepted so far.
async fn server(plan: Vec<Then>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let then = plan[n.min(plan.len() - 1)];
            tokio::spawn(async move {
                while read_request(&mut s).await {
                    let reply = match then {
                        Then::Continue => format!(
                            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        ),
                        Then::UntilClose => format!("HTTP/1.0 200 OK\r\n\r\n{BODY}"),
                        Then::KeepAlive | Then::Close => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        ),
                        Then::SayClose => format!(
                            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        ),
                        Then::Chunked => {
                            let (a, b) = BODY.split_at(7);
                            format!(
                                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                                a.len(),
                                b.len()
                            )
                        }
                        Then::Truncate => {
                            "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"success\"".to_owned()
                        }
                    };
                    if s.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    if !matches!(then, Then::KeepAlive | Then::Chunked | Then::Continue) {
                        return; // drops (closes) the socket
                    }
                }
            });
        }
    });
    (url, accepted)
}

async fn get(rest: &Rest) -> Result<serde_json::Value, RcError> {
    rest.call_json("GET", "me", None).await
}

#[tokio::test]
async fn one_keep_alive_connection_serves_every_request() {
    let (url, accepted) = server(vec![Then::KeepAlive]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    for _ in 0..20 {
        assert_eq!(get(&rest).await.unwrap()["n"], 1);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    let (url, accepted) = server(vec![Then::Close]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    for i in 1..=3 {
        assert_eq!(get(&rest).await.unwrap()["n"], 1, "request {i}");
        // Let the close arrive before the next request, as after an idle spell.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let (url, accepted) = server(vec![Then::SayClose]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    for _ in 0..3 {
        get(&rest).await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn chunked_bodies_are_joined() {
    let (url, accepted) = server(vec![Then::Chunked]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    for _ in 0..3 {
        assert_eq!(get(&rest).await.unwrap()["n"], 1);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_truncated_response_is_an_error_and_the_next_request_works() {
    let (url, accepted) = server(vec![Then::Truncate, Then::KeepAlive]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    let err = get(&rest).await.unwrap_err();
    assert!(matches!(err, RcError::Connect { .. }), "{err:?}");
    assert_eq!(get(&rest).await.unwrap()["n"], 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_can_be_closed() {
    let (url, accepted) = server(vec![Then::KeepAlive]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    get(&rest).await.unwrap();
    rest.close_idle();
    get(&rest).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn informational_responses_are_skipped() {
    let (url, accepted) = server(vec![Then::Continue]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    for _ in 0..3 {
        assert_eq!(get(&rest).await.unwrap()["n"], 1);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_delimited_by_the_close_is_read_whole() {
    let (url, accepted) = server(vec![Then::UntilClose]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    for _ in 0..2 {
        assert_eq!(get(&rest).await.unwrap()["n"], 1);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// A POST that met a connection closed under it is an error, never sent
/// twice behind the scenario's back; a GET goes again.
#[tokio::test]
async fn only_idempotent_requests_go_again_on_a_closed_connection() {
    let (url, accepted) = server(vec![Then::Close]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    let empty = serde_json::json!({});
    let post = || rest.call_json("POST", "me", Some(&empty));
    post().await.unwrap();
    // The close arrives, but too soon for the client to check before reuse.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let err = post().await.unwrap_err();
    assert!(matches!(err, RcError::Connect { .. }), "{err:?}");
    assert_eq!(post().await.unwrap()["n"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(get(&rest).await.unwrap()["n"], 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

/// After a longer idle spell the client looks before it reuses: a close
/// from the server is noticed, and even a POST gets a fresh connection.
#[tokio::test]
async fn a_close_during_a_longer_idle_spell_is_noticed() {
    let (url, accepted) = server(vec![Then::Close]).await;
    let rest = Rest::new(&url, &config()).unwrap();
    let empty = serde_json::json!({});
    for _ in 0..2 {
        assert_eq!(
            rest.call_json("POST", "me", Some(&empty)).await.unwrap()["n"],
            1
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// A scenario's `Host` or `Content-Type` header replaces the client's own
/// (one of each on the wire).
#[tokio::test]
async fn given_host_and_content_type_replace_the_defaults() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).await.unwrap() == 1 {
            head.push(byte[0]);
        }
        let body = serde_json::json!({ "head": String::from_utf8_lossy(&head) }).to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(reply.as_bytes()).await.unwrap();
    });
    let rest = Rest::new(&url, &config()).unwrap();
    let headers = [
        ("Host".to_owned(), "chat.example.com".to_owned()),
        ("Content-Type".to_owned(), "text/plain".to_owned()),
    ];
    let r = rest
        .request("POST", "x", Some(&serde_json::json!("hi")), &headers, false)
        .await
        .unwrap();
    let head = r.json()["head"].as_str().unwrap().to_ascii_lowercase();
    let lines: Vec<&str> = head.lines().collect();
    let count = |name: &str| lines.iter().filter(|l| l.starts_with(name)).count();
    assert_eq!((count("host:"), count("content-type:")), (1, 1), "{head}");
    assert!(lines.contains(&"host: chat.example.com"), "{head}");
    assert!(lines.contains(&"content-type: text/plain"), "{head}");
    assert!(lines.contains(&"content-length: 4"), "{head}");
}
