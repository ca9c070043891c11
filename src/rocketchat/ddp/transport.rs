//! Opening the websocket: URL derivation, TCP (optionally from a chosen
//! source address), TLS, the HTTP upgrade, and small per-socket buffers.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::rocketchat::error::from_ws;
use crate::rocketchat::net;
use crate::rocketchat::{ClientConfig, RcError, tls};

pub(crate) type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Read buffer per socket. tungstenite's default (128 KiB, zero-filled) would
/// alone be 4x the memory budget of an idle virtual user; DDP frames are
/// mostly well under 4 KiB and larger ones just take more reads.
const READ_BUFFER: usize = 4 * 1024;
/// Largest message accepted (history loads can be large; bounded anyway).
const MAX_MESSAGE: usize = 16 << 20;

/// Small buffers: write each frame at once (no 128 KiB write buffer),
/// a 4 KiB read buffer.
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_MESSAGE)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// `http(s)://host:port[/prefix]` -> `ws(s)://host:port[/prefix]/websocket`.
pub(crate) fn ws_url(base_url: &str) -> Result<Url, RcError> {
    let mut url = Url::parse(base_url)
        .map_err(|e| RcError::Protocol(format!("invalid base URL `{base_url}`: {e}")))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(RcError::Protocol(format!(
                "base URL `{base_url}`: unsupported scheme `{other}` (want http or https)"
            )));
        }
    };
    url.set_scheme(scheme)
        .map_err(|()| RcError::Protocol(format!("base URL `{base_url}`: cannot use {scheme}")))?;
    let path = format!("{}/websocket", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// TCP connect, TLS for wss, websocket upgrade with the extra headers.
pub(crate) async fn open(url: &Url, cfg: &ClientConfig) -> Result<WsStream, RcError> {
    let text = url.as_str();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| RcError::Protocol(format!("{text}: no port")))?;
    let host = url
        .host_str()
        .ok_or_else(|| RcError::Protocol(format!("{text}: no host")))?;
    let tcp = net::connect(host, port, cfg.source_ip, text).await?;

    let mut request = text
        .into_client_request()
        .map_err(|e| from_ws(e, text, "building the upgrade request"))?;
    for (k, v) in &cfg.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| RcError::Protocol(format!("invalid header name `{k}`")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| RcError::Protocol(format!("invalid value for header `{k}`")))?;
        request.headers_mut().append(name, value);
    }
    let connector = if url.scheme() == "wss" {
        Connector::Rustls(tls::client_config(cfg.insecure)?)
    } else {
        Connector::Plain
    };
    let (ws, _response) = tokio_tungstenite::client_async_tls_with_config(
        request,
        tcp,
        Some(ws_config()),
        Some(connector),
    )
    .await
    .map_err(|e| from_ws(e, text, "websocket upgrade"))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_from_base_url() {
        let u = |s| ws_url(s).map(|u| u.to_string());
        assert_eq!(
            u("http://127.0.0.1:3000").unwrap(),
            "ws://127.0.0.1:3000/websocket"
        );
        assert_eq!(
            u("https://chat.example.com/").unwrap(),
            "wss://chat.example.com/websocket"
        );
        assert_eq!(u("http://h:1/rc/?x=1").unwrap(), "ws://h:1/rc/websocket");
        assert_eq!(u("http://[::1]:3000").unwrap(), "ws://[::1]:3000/websocket");
        assert!(u("ftp://h").is_err());
        assert!(u("not a url").is_err());
    }
}
