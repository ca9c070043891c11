//! Opening TCP connections to the target: name resolution, an optional
//! source address (to spread a generator over several local IPs), no Nagle
//! delay. Shared by the REST and DDP clients.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

use super::RcError;
use super::error::from_io;

/// Connects to `host:port` (a name or an IP literal, IPv6 with or without
/// brackets); `url` names the target in errors.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    source: Option<IpAddr>,
    url: &str,
) -> Result<TcpStream, RcError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| from_io(e, url, "resolving the host"))?
            .collect(),
    };
    let tcp = connect_tcp(&addrs, source, url).await?;
    // Requests and frames are small and latency-measured.
    tcp.set_nodelay(true)
        .map_err(|e| from_io(e, url, "setting TCP_NODELAY"))?;
    Ok(tcp)
}

/// Tries each resolved address in turn (those of the source address's family
/// when one is set); the last failure is reported.
async fn connect_tcp(
    addrs: &[SocketAddr],
    source: Option<IpAddr>,
    url: &str,
) -> Result<TcpStream, RcError> {
    let mut last = None;
    for &addr in addrs {
        let attempt = match source {
            Some(ip) if ip.is_ipv4() != addr.is_ipv4() => continue,
            Some(ip) => {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                };
                match socket.and_then(|s| s.bind(SocketAddr::new(ip, 0)).map(|()| s)) {
                    Ok(s) => s.connect(addr).await,
                    Err(e) => {
                        return Err(RcError::Connect {
                            url: url.to_owned(),
                            refused: false,
                            message: format!("cannot bind source address {ip}: {e}"),
                        });
                    }
                }
            }
            None => TcpStream::connect(addr).await,
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => from_io(e, url, "connecting"),
        None => RcError::Connect {
            url: url.to_owned(),
            refused: false,
            message: match source {
                Some(ip) => format!("no address of the family of source address {ip}"),
                None => "host resolved to no address".to_owned(),
            },
        },
    })
}
