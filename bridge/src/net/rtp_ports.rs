//! Ports of the plain RTP legs toward SIP peers: binding an RTP/RTCP pair in the configured
//! range (RFC 3550 §11: RTP on an even port, RTCP on the next odd one), and the table of
//! those sockets a shard thread polls.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use crate::config::Media;

/// Receive and send buffer of one RTP socket: a second of 2 Mbit/s video.
const RTP_SOCKET_BUFFER: usize = 256 << 10;
/// Tries at an adjacent even/odd pair when any free port will do.
const EPHEMERAL_TRIES: usize = 16;

/// Reads `"min-max"` (both inclusive). `"0-0"` or an empty string mean any free port and
/// give `(0, 0)`; otherwise the range must hold an even port and the odd one after it.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok((0, 0));
    }
    let parsed = text
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)));
    let Some((min, max)) = parsed else {
        return Err(format!("expected MIN-MAX, not {text:?}"));
    };
    if (min, max) == (0, 0) {
        return Ok((0, 0));
    }
    if min == 0 || min > max {
        return Err(format!("{text:?} is not a range of ports from 1 to 65535"));
    }
    if first_even(min).is_none_or(|even| even >= max) {
        return Err(format!(
            "{text:?} holds no even port followed by an odd one (RTP and RTCP)"
        ));
    }
    Ok((min, max))
}

/// The configured `media.rtp_port_range`, for [`bind_rtp_pair`]. It was checked when the
/// configuration was loaded; were it invalid, any free port is used.
pub fn rtp_port_range(media: &Media) -> (u16, u16) {
    parse_port_range(&media.rtp_port_range).unwrap_or((0, 0))
}

fn first_even(port: u16) -> Option<u16> {
    if port.is_multiple_of(2) {
        Some(port)
    } else {
        port.checked_add(1)
    }
}

/// Binds an RTP socket on an even port of `range` and its RTCP socket on the next port,
/// starting at a random pair and walking on until one is free. With `(0, 0)` any free ports
/// do: an adjacent pair if one turns up quickly, else two unrelated ports (the SDP then needs
/// `a=rtcp`, RFC 3605). Both sockets are nonblocking, ready for [`ShardHandle::add_sockets`].
///
/// [`ShardHandle::add_sockets`]: super::ShardHandle::add_sockets
pub fn bind_rtp_pair(
    ip: IpAddr,
    range: (u16, u16),
) -> io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
    let (rtp, rtcp) = if range == (0, 0) {
        bind_ephemeral(ip)?
    } else {
        bind_in_range(ip, range)?
    };
    for socket in [&rtp, &rtcp] {
        socket.set_nonblocking(true)?;
        super::set_buffers(socket, RTP_SOCKET_BUFFER);
    }
    Ok((rtp, rtcp))
}

fn bind_in_range(
    ip: IpAddr,
    (min, max): (u16, u16),
) -> io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
    let no_pair = || io::Error::new(io::ErrorKind::InvalidInput, "no RTP port pair in range");
    let first = first_even(min).ok_or_else(no_pair)?;
    if first >= max {
        return Err(no_pair());
    }
    let pairs = u32::from(max - first + 1) / 2;
    let start = rand::random::<u32>() % pairs;
    for i in 0..pairs {
        let port = first + 2 * ((start + i) % pairs) as u16;
        let rtp = match std::net::UdpSocket::bind((ip, port)) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        };
        match std::net::UdpSocket::bind((ip, port + 1)) {
            Ok(rtcp) => return Ok((rtp, rtcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("every RTP port pair in {min}-{max} is taken"),
    ))
}

fn bind_ephemeral(ip: IpAddr) -> io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
    for _ in 0..EPHEMERAL_TRIES {
        let rtp = std::net::UdpSocket::bind((ip, 0))?;
        let port = rtp.local_addr()?.port();
        if !port.is_multiple_of(2) || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = std::net::UdpSocket::bind((ip, port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Ok((
        std::net::UdpSocket::bind((ip, 0))?,
        std::net::UdpSocket::bind((ip, 0))?,
    ))
}

/// The RTP sockets a shard thread polls: a mio token each, and a way from a transmit's
/// source address to the socket that sends it.
pub(super) struct RtpSockets {
    by_token: HashMap<Token, (SocketAddr, UdpSocket)>,
    by_local: HashMap<SocketAddr, Token>,
    next_token: usize,
}

impl RtpSockets {
    /// Tokens from `first_token` up are this table's.
    pub fn new(first_token: usize) -> Self {
        Self {
            by_token: HashMap::new(),
            by_local: HashMap::new(),
            next_token: first_token,
        }
    }

    /// Registers a socket for reading; a socket already bound to the same address (a
    /// second add) replaces nothing and is dropped.
    pub fn add(&mut self, registry: &Registry, socket: std::net::UdpSocket) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        if self.by_local.contains_key(&local) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{local} is already polled"),
            ));
        }
        let mut socket = UdpSocket::from_std(socket);
        let token = Token(self.next_token);
        registry.register(&mut socket, token, Interest::READABLE)?;
        self.next_token += 1;
        self.by_token.insert(token, (local, socket));
        self.by_local.insert(local, token);
        Ok(())
    }

    /// Deregisters and closes the socket bound to `local`, if any.
    pub fn remove(&mut self, registry: &Registry, local: SocketAddr) {
        let Some(token) = self.by_local.remove(&local) else {
            return;
        };
        if let Some((_, mut socket)) = self.by_token.remove(&token) {
            if let Err(e) = registry.deregister(&mut socket) {
                tracing::debug!("deregistering RTP socket {local}: {e}");
            }
        }
    }

    /// The socket behind a readiness token, with its local address.
    pub fn by_token(&self, token: Token) -> Option<(SocketAddr, &UdpSocket)> {
        self.by_token.get(&token).map(|(a, s)| (*a, s))
    }

    /// The socket bound to `local`: where a transmit with that source goes out.
    pub fn by_local(&self, local: SocketAddr) -> Option<&UdpSocket> {
        let token = self.by_local.get(&local)?;
        self.by_token.get(token).map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn ranges_parse_as_janus_writes_them() {
        assert_eq!(parse_port_range("20000-40000"), Ok((20000, 40000)));
        assert_eq!(parse_port_range(" 10001 - 10003 "), Ok((10001, 10003)));
        assert_eq!(parse_port_range("0-0"), Ok((0, 0)));
        assert_eq!(parse_port_range(""), Ok((0, 0)));
        for bad in [
            "20000",
            "a-b",
            "40000-20000",
            "0-100",
            "10001-10002",
            "70000-80000",
        ] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_range_comes_from_the_config_file_or_environment() {
        use crate::config::Config;
        assert_eq!(rtp_port_range(&Config::default().media), (20000, 40000));
        let c = Config::from_yaml("media:\n  rtp_port_range: \"0-0\"\n").unwrap();
        assert_eq!(rtp_port_range(&c.media), (0, 0));
        let var = (
            "CARDEA_MEDIA_RTP_PORT_RANGE".to_string(),
            "30000-30099".to_string(),
        );
        let c = Config::default().apply_env([var].into_iter()).unwrap();
        assert_eq!(rtp_port_range(&c.media), (30000, 30099));
        let mut bad = Config::default();
        bad.media.rtp_port_range = "40000-20000".into();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn a_pair_is_an_even_port_and_the_next_one() {
        let (rtp, rtcp) = bind_rtp_pair(LOCALHOST, (31000, 31999)).unwrap();
        let (a, b) = (rtp.local_addr().unwrap(), rtcp.local_addr().unwrap());
        assert_eq!(a.port() % 2, 0);
        assert_eq!(b.port(), a.port() + 1);
        assert!((31000..=31999).contains(&a.port()));
        assert_eq!(a.ip(), LOCALHOST);
    }

    #[test]
    fn a_full_range_walks_to_the_free_pair_then_fails() {
        let taken = std::net::UdpSocket::bind((LOCALHOST, 32100)).unwrap();
        let (rtp, _rtcp) = bind_rtp_pair(LOCALHOST, (32100, 32103)).unwrap();
        assert_eq!(rtp.local_addr().unwrap().port(), 32102);
        let err = bind_rtp_pair(LOCALHOST, (32100, 32103)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(taken);
    }

    #[test]
    fn removing_a_socket_closes_its_port() {
        let poll = mio::Poll::new().unwrap();
        let mut table = RtpSockets::new(2);
        let socket = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
        let local = socket.local_addr().unwrap();
        let twin = socket.try_clone().unwrap();
        table.add(poll.registry(), socket).unwrap();
        assert!(table.by_local(local).is_some());
        assert!(table.by_token(Token(2)).is_some_and(|(a, _)| a == local));
        assert!(
            table.add(poll.registry(), twin).is_err(),
            "one socket per address"
        );
        table.remove(poll.registry(), local);
        assert!(table.by_local(local).is_none());
        assert!(table.by_token(Token(2)).is_none());
        std::net::UdpSocket::bind(local).expect("the port is free again");
    }

    #[test]
    fn any_port_gives_two_sockets() {
        let (rtp, rtcp) = bind_rtp_pair(LOCALHOST, (0, 0)).unwrap();
        assert_ne!(rtp.local_addr().unwrap(), rtcp.local_addr().unwrap());
    }
}
