//! HTTP/1.1 keep-alive connections to one origin, for the REST client.
//!
//! A load generator's request path should cost little more than its two
//! syscalls. A request is encoded into the connection's reused write buffer
//! and written at once; the response is read into its reused read buffer,
//! the head parsed in place by `httparse`, the body framed by
//! Content-Length, chunked encoding or the close. No task, channel or
//! header map per request: with hyper's connection API (channels between
//! the request handle and the connection) user-space CPU per request was
//! 6-8x wrk's.
//!
//! Idle connections wait in a small pool: a virtual user, which sends one
//! request at a time, uses one connection as a browser tab would;
//! provisioning (many requests at once from one admin client) opens as many
//! as it runs concurrently.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

use super::error::from_io;
use super::{ClientConfig, RcError, net, tls};

/// Idle connections older than this are closed, not reused: Node (so
/// Rocket.Chat) closes idle keep-alive connections after 5 s, and reusing
/// one then races the server's close.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(4);
/// A connection idle longer than this is checked for a close from the
/// server before it is reused (one extra non-blocking read).
const CHECK_AFTER: Duration = Duration::from_millis(200);
/// Largest response head and body accepted.
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 64 << 20;
const MAX_HEADERS: usize = 64;
/// Read buffer of a connection: most REST replies fit in one read.
const READ_CHUNK: usize = 8 << 10;
/// Buffers larger than this are dropped between requests.
const KEEP_BUFFER: usize = 64 << 10;

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

/// Status, `Date`, rate-limit headers and body of a response.
pub(crate) struct Reply {
    pub status: u16,
    pub date: Option<SystemTime>,
    pub rate: Option<RateHeaders>,
    pub body: Bytes,
}

/// Rocket.Chat's `X-RateLimit-*` headers: sent on every answer of a route
/// its REST limiter counts for this caller, so their presence is how a
/// client learns that a limit applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    /// Calls allowed per window.
    pub limit: u64,
    pub remaining: u64,
    /// Epoch milliseconds at which the window resets.
    pub reset_ms: u64,
}

/// One request: `encode` appends its head (request line and headers, up to
/// the blank line) to a buffer; it runs again if the request is retried.
pub(crate) struct Outgoing<'a, F: Fn(&mut Vec<u8>)> {
    pub encode: F,
    pub body: &'a [u8],
    /// HEAD: the response has no body whatever its headers say.
    pub head_only: bool,
    /// May go again on a new connection when a reused one turns out closed.
    pub idempotent: bool,
}

/// One keep-alive connection.
struct Conn {
    io: MaybeTlsStream<TcpStream>,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    idle_since: Instant,
}

/// How an exchange failed: before any byte of a response (a reused
/// connection the server had closed), or later.
enum Failure {
    NoResponse(io::Error),
    Error(RcError),
}

/// The connections of one client to one origin.
pub(crate) struct Http1 {
    origin: Arc<Origin>,
    source_ip: Option<std::net::IpAddr>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Boxed: a connection with its buffers and TLS state is kilobytes, and
    /// it moves in and out of the pool and lives in request futures.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<Conn>>>,
    /// Largest body accepted; a larger one is an error, never read whole.
    max_body: usize,
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
            max_body: MAX_BODY,
        })
    }

    /// Accepts bodies up to `bytes` (below the default cap only).
    pub fn with_max_body(mut self, bytes: usize) -> Http1 {
        self.max_body = bytes.min(MAX_BODY);
        self
    }

    /// Sends a request and reads the whole response. A reused connection
    /// that gives no response at all (the server closed it while idle) is
    /// replaced and an idempotent request sent again.
    pub async fn send<F: Fn(&mut Vec<u8>)>(&self, req: &Outgoing<'_, F>) -> Result<Reply, RcError> {
        let url = &self.origin.url;
        let mut pooled = self.checkout();
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                // Boxed: the TLS handshake's future is large, and it is rare.
                None => Box::pin(self.connect()).await?,
            };
            match exchange(&mut conn, req, url, self.max_body).await {
                Ok((reply, keep)) => {
                    if keep {
                        self.checkin(conn);
                    }
                    return Ok(reply);
                }
                // Once at most: the next attempt is on a new connection.
                Err(Failure::NoResponse(_)) if reused && req.idempotent => {}
                Err(Failure::NoResponse(e)) => {
                    return Err(from_io(e, url, "reading the response"));
                }
                Err(Failure::Error(e)) => return Err(e),
            }
        }
    }

    /// Closes every idle connection.
    pub fn close_idle(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn checkout(&self) -> Option<Box<Conn>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut c) = idle.pop() {
            let idle_for = c.idle_since.elapsed();
            if idle_for < POOL_IDLE && (idle_for < CHECK_AFTER || c.still_open()) {
                return Some(c);
            }
        }
        None
    }

    fn checkin(&self, mut conn: Box<Conn>) {
        // A large response or request must not pin its buffer for the
        // life of the connection.
        if conn.rbuf.capacity() > KEEP_BUFFER {
            conn.rbuf = BytesMut::new();
        }
        if conn.wbuf.capacity() > KEEP_BUFFER {
            conn.wbuf = Vec::new();
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
        let io = match &self.tls {
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
        Ok(Box::new(Conn {
            io,
            rbuf: BytesMut::new(),
            wbuf: Vec::new(),
            idle_since: Instant::now(),
        }))
    }
}

impl Conn {
    /// False when the server closed the connection (or sent something
    /// unasked) while it was idle. Never waits.
    fn still_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        let mut rb = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut rb),
            Poll::Pending
        )
    }

    /// Reads more into the read buffer; an error at EOF.
    async fn fill(&mut self) -> io::Result<()> {
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match self.io.read_buf(&mut self.rbuf).await? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the response was complete",
            )),
            _ => Ok(()),
        }
    }
}

/// What the head of a response says about its body.
struct Head {
    status: u16,
    /// Bytes of the head (status line, headers, blank line).
    len: usize,
    framing: Framing,
    keep_alive: bool,
    /// The `Date` header, when present and well-formed.
    date: Option<SystemTime>,
    rate: Option<RateHeaders>,
}

enum Framing {
    Length(usize),
    Chunked,
    /// Until the server closes.
    Close,
}

/// One request and its whole response on `conn`; the reply and whether the
/// connection can take another request.
async fn exchange<F: Fn(&mut Vec<u8>)>(
    conn: &mut Conn,
    req: &Outgoing<'_, F>,
    url: &str,
    max_body: usize,
) -> Result<(Reply, bool), Failure> {
    let io_err = |e: io::Error| Failure::Error(from_io(e, url, "talking to the server"));
    conn.wbuf.clear();
    (req.encode)(&mut conn.wbuf);
    conn.wbuf.extend_from_slice(req.body);
    if let Err(e) = conn.io.write_all(&conn.wbuf).await {
        return Err(Failure::NoResponse(e));
    }
    // The head: 1xx informational responses are skipped.
    let head = loop {
        match parse_head(&conn.rbuf, url).map_err(Failure::Error)? {
            Some(h) if (100..200).contains(&h.status) => conn.rbuf.advance(h.len),
            Some(h) => break h,
            None if conn.rbuf.len() > MAX_HEAD => {
                return Err(Failure::Error(RcError::Protocol(format!(
                    "{url}: response head over {} KiB",
                    MAX_HEAD >> 10
                ))));
            }
            None => {
                let first = conn.rbuf.is_empty();
                if let Err(e) = conn.fill().await {
                    return Err(match first {
                        true => Failure::NoResponse(e),
                        false => io_err(e),
                    });
                }
            }
        }
    };
    conn.rbuf.advance(head.len);
    let no_body = req.head_only || head.status == 204 || head.status == 304;
    let (body, keep) = match (no_body, head.framing) {
        (true, _) => (Bytes::new(), head.keep_alive),
        (false, Framing::Length(n)) => {
            if n > max_body {
                return Err(Failure::Error(too_large(url, max_body)));
            }
            while conn.rbuf.len() < n {
                conn.fill().await.map_err(io_err)?;
            }
            (conn.rbuf.split_to(n).freeze(), head.keep_alive)
        }
        (false, Framing::Chunked) => (read_chunked(conn, url, max_body).await?, head.keep_alive),
        (false, Framing::Close) => {
            loop {
                if conn.rbuf.len() > max_body {
                    return Err(Failure::Error(too_large(url, max_body)));
                }
                match conn.fill().await {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(io_err(e)),
                }
            }
            (conn.rbuf.split().freeze(), false)
        }
    };
    // Bytes nobody asked for: the connection's state is unknown.
    let keep = keep && conn.rbuf.is_empty();
    Ok((
        Reply {
            status: head.status,
            date: head.date,
            rate: head.rate,
            body,
        },
        keep,
    ))
}

fn too_large(url: &str, max_body: usize) -> RcError {
    RcError::Protocol(format!(
        "{url}: response larger than {} MiB",
        max_body >> 20
    ))
}

/// The response head at the start of `buf`; `None` while incomplete.
fn parse_head(buf: &[u8], url: &str) -> Result<Option<Head>, RcError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(RcError::Protocol(format!("{url}: malformed response: {e}")));
        }
    };
    let status = res.code.unwrap_or(0);
    let mut keep_alive = res.version == Some(1);
    let mut framing = Framing::Close;
    let mut date = None;
    let (mut limit, mut remaining, mut reset) = (None, None, None);
    let number = |v: &[u8]| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok();
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    RcError::Protocol(format!("{url}: invalid Content-Length in response"))
                })?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked when it is the last coding; it overrides any length.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("date") {
            date = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| httpdate::parse_http_date(v).ok());
        } else if let Some(which) = rate_header(h.name) {
            let slot = match which {
                Rate::Limit => &mut limit,
                Rate::Remaining => &mut remaining,
                Rate::Reset => &mut reset,
            };
            *slot = number(h.value);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive,
        date,
        rate: match (limit, remaining, reset) {
            (Some(limit), Some(remaining), Some(reset_ms)) => Some(RateHeaders {
                limit,
                remaining,
                reset_ms,
            }),
            _ => None,
        },
    }))
}

enum Rate {
    Limit,
    Remaining,
    Reset,
}

/// Which `X-RateLimit-*` header `name` is, in any case.
fn rate_header(name: &str) -> Option<Rate> {
    let (prefix, rest) = (name.get(..12)?, name.get(12..)?);
    if !prefix.eq_ignore_ascii_case("x-ratelimit-") {
        return None;
    }
    [
        ("limit", Rate::Limit),
        ("remaining", Rate::Remaining),
        ("reset", Rate::Reset),
    ]
    .into_iter()
    .find_map(|(n, r)| rest.eq_ignore_ascii_case(n).then_some(r))
}

/// A chunked body, its chunks joined; trailers are read and dropped.
async fn read_chunked(conn: &mut Conn, url: &str, max_body: usize) -> Result<Bytes, Failure> {
    let io_err = |e: io::Error| Failure::Error(from_io(e, url, "reading a chunked body"));
    let bad = || Failure::Error(RcError::Protocol(format!("{url}: malformed chunked body")));
    let mut body = BytesMut::new();
    loop {
        let (skip, size) = loop {
            match httparse::parse_chunk_size(&conn.rbuf) {
                Ok(httparse::Status::Complete(v)) => break v,
                Ok(httparse::Status::Partial) if conn.rbuf.len() < MAX_HEAD => {
                    conn.fill().await.map_err(io_err)?;
                }
                _ => return Err(bad()),
            }
        };
        conn.rbuf.advance(skip);
        let size = usize::try_from(size).map_err(|_| bad())?;
        if size == 0 {
            break;
        }
        if body.len() + size > max_body {
            return Err(Failure::Error(too_large(url, max_body)));
        }
        while conn.rbuf.len() < size + 2 {
            conn.fill().await.map_err(io_err)?;
        }
        body.extend_from_slice(&conn.rbuf[..size]);
        if &conn.rbuf[size..size + 2] != b"\r\n" {
            return Err(bad());
        }
        conn.rbuf.advance(size + 2);
    }
    // Trailer fields, then the blank line.
    loop {
        let Some(end) = conn.rbuf.windows(2).position(|w| w == b"\r\n") else {
            if conn.rbuf.len() > MAX_HEAD {
                return Err(bad());
            }
            conn.fill().await.map_err(io_err)?;
            continue;
        };
        conn.rbuf.advance(end + 2);
        if end == 0 {
            return Ok(body.freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes(), "http://x").unwrap().unwrap()
    }

    #[test]
    fn heads_frame_their_bodies() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert!(matches!(h.framing, Framing::Length(12)) && h.keep_alive);
        let h = head(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n",
        );
        assert!(matches!(h.framing, Framing::Chunked));
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        assert!(matches!(h.framing, Framing::Close) && !h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
        assert_eq!(head("HTTP/1.1 404 Not Found\r\n\r\n").status, 404);
    }

    #[test]
    fn partial_and_malformed_heads() {
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", "u")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"NOT HTTP\r\n\r\n", "u").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "u").is_err());
    }
}
