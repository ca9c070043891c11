//! HTTP/1.1 keep-alive connections to one origin, for the REST client.
//!
//! Each connection is hyper's HTTP/1 state machine driven inside the
//! caller's task: no connection task, no channel hop and no per-request URL
//! re-parsing, which is where a general-purpose client spends most of a
//! load generator's CPU. Idle connections wait in a small pool; a virtual
//! user, which sends one request at a time, uses one connection as a
//! browser tab would, while provisioning (many requests at once from one
//! admin client) opens as many as it runs concurrently.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

use super::error::{chain_text, from_io, io_kind, tls_cause};
use super::{ClientConfig, RcError, net, tls};

/// Idle connections older than this are closed, not reused: Node (so
/// Rocket.Chat) closes idle keep-alive connections after 5 s, and reusing
/// one then races the server's close.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(4);
/// Largest response body accepted.
const MAX_BODY: usize = 64 << 20;

type Io = TokioIo<MaybeTlsStream<TcpStream>>;

/// Where requests go: scheme, host and port of the base URL.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub https: bool,
    /// Host name or IP literal (IPv6 in brackets), for DNS and SNI.
    pub host: String,
    pub port: u16,
    /// `http(s)://host:port`, for errors.
    pub url: String,
}

/// One keep-alive connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: Connection<Io, Full<Bytes>>,
    /// The driver finished (the connection is closed).
    ended: bool,
    idle_since: Instant,
}

/// Status and body of a response.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// A failed exchange, and whether the request surely never left: then it
/// can go again on a new connection.
struct Failed {
    error: RcError,
    unsent: Option<Request<Full<Bytes>>>,
}

/// The connections of one client to one origin.
pub(crate) struct Http1 {
    origin: Arc<Origin>,
    source_ip: Option<std::net::IpAddr>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Boxed: a connection (with its TLS state) is kilobytes, and it moves
    /// in and out of the pool and lives in request futures.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<Conn>>>,
}

impl Http1 {
    pub fn new(origin: Arc<Origin>, cfg: &ClientConfig) -> Result<Http1, RcError> {
        let tls = match origin.https {
            true => Some(tls::client_config(cfg.insecure)?),
            false => None,
        };
        Ok(Http1 {
            origin,
            source_ip: cfg.source_ip,
            tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) and reads the whole
    /// response. A reused connection the server closed while it was idle
    /// is replaced, and the request sent again, only when hyper hands the
    /// request back unsent.
    pub async fn send(&self, mut req: Request<Full<Bytes>>) -> Result<Reply, RcError> {
        loop {
            let (mut conn, reused) = match self.checkout() {
                Some(c) => (c, true),
                // Boxed: the TLS handshake's future is large, and it is rare.
                None => (Box::pin(self.connect()).await?, false),
            };
            match exchange(&mut conn, req, &self.origin.url).await {
                Ok(reply) => {
                    self.checkin(conn);
                    return Ok(reply);
                }
                Err(Failed {
                    unsent: Some(again),
                    ..
                }) if reused => req = again,
                Err(f) => return Err(f.error),
            }
        }
    }

    /// Closes every idle connection (a virtual user about to idle longer
    /// than the server keeps them).
    pub fn close_idle(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn checkout(&self) -> Option<Box<Conn>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(c) = idle.pop() {
            if c.idle_since.elapsed() < POOL_IDLE && !c.sender.is_closed() {
                return Some(c);
            }
        }
        None
    }

    fn checkin(&self, mut conn: Box<Conn>) {
        if conn.ended || conn.sender.is_closed() {
            return;
        }
        conn.idle_since = Instant::now();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    async fn connect(&self) -> Result<Box<Conn>, RcError> {
        let o = &*self.origin;
        let tcp = net::connect(&o.host, o.port, self.source_ip, &o.url).await?;
        let stream = match &self.tls {
            None => MaybeTlsStream::Plain(tcp),
            Some(config) => {
                let host = o.host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned()).map_err(|e| {
                    RcError::Tls(format!("{}: invalid server name `{host}`: {e}", o.url))
                })?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| from_io(e, &o.url, "TLS handshake"))?;
                MaybeTlsStream::Rustls(tls)
            }
        };
        let (sender, driver) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| from_hyper(&e, &o.url))?;
        Ok(Box::new(Conn {
            sender,
            driver,
            ended: false,
            idle_since: Instant::now(),
        }))
    }
}

/// One request and its whole response on `conn`.
async fn exchange(conn: &mut Conn, req: Request<Full<Bytes>>, url: &str) -> Result<Reply, Failed> {
    // Let the driver settle the previous exchange (or notice the server's
    // close) before the connection takes a new request.
    let ready = {
        let Conn {
            sender,
            driver,
            ended,
            ..
        } = conn;
        drive(
            driver,
            ended,
            std::future::poll_fn(|cx| sender.poll_ready(cx)),
        )
        .await
    };
    if !matches!(ready, Some(Ok(()))) {
        // Closed while idle: the request never left.
        return Err(Failed {
            error: RcError::Connect {
                url: url.to_owned(),
                refused: false,
                message: "connection closed by the server".to_owned(),
            },
            unsent: Some(req),
        });
    }
    let Conn {
        sender,
        driver,
        ended,
        ..
    } = conn;
    let response = drive(driver, ended, sender.try_send_request(req)).await;
    let response = match response {
        Some(Ok(r)) => r,
        Some(Err(mut e)) => {
            let unsent = e.take_message();
            return Err(Failed {
                error: from_hyper(e.error(), url),
                unsent,
            });
        }
        None => return Err(closed(url)),
    };
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY);
    match drive(driver, ended, body.collect()).await {
        Some(Ok(collected)) => Ok(Reply {
            status,
            body: collected.to_bytes(),
        }),
        Some(Err(e)) => Err(Failed {
            error: match e.downcast_ref::<hyper::Error>() {
                Some(h) => from_hyper(h, url),
                None => RcError::Protocol(format!("{url}: response body: {e}")),
            },
            unsent: None,
        }),
        None => Err(closed(url)),
    }
}

fn closed(url: &str) -> Failed {
    Failed {
        error: RcError::Connect {
            url: url.to_owned(),
            refused: false,
            message: "connection closed before the response was complete".to_owned(),
        },
        unsent: None,
    }
}

/// Polls `fut` while driving the connection; `None` when the connection
/// ended first and `fut` cannot complete.
async fn drive<F: Future>(
    driver: &mut Connection<Io, Full<Bytes>>,
    ended: &mut bool,
    fut: F,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        // The driver first: what it reads completes `fut` in the same poll.
        if !*ended && Pin::new(&mut *driver).poll(cx).is_ready() {
            *ended = true;
        }
        match fut.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if *ended => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Maps a hyper error of an exchange with `url`.
pub(crate) fn from_hyper(err: &hyper::Error, url: &str) -> RcError {
    if let Some(tls) = tls_cause(err) {
        return RcError::Tls(format!("{url}: {tls}"));
    }
    let kind = io_kind(err);
    if err.is_timeout() || kind == Some(std::io::ErrorKind::TimedOut) {
        return RcError::Timeout {
            what: url.to_owned(),
        };
    }
    if kind.is_some() || err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
        return RcError::Connect {
            url: url.to_owned(),
            refused: kind == Some(std::io::ErrorKind::ConnectionRefused),
            message: chain_text(err),
        };
    }
    RcError::Protocol(format!("{url}: {}", chain_text(err)))
}
