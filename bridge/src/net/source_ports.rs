//! UDP ports of plain RTP sources (Streaming mountpoints): bound at once on the control
//! plane, so that `create` can answer with them, and parked here until the source that
//! uses them starts on its shard; and the files that `live` and `ondemand` sources play.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Mutex;

use cardea_plugins::SourceIo;

/// Receive buffer of a source socket: a second of 8 Mbit/s video.
const SOURCE_SOCKET_BUFFER: usize = 1 << 20;

pub struct PortBank {
    ip: IpAddr,
    range: (u16, u16),
    parked: Mutex<HashMap<SocketAddr, UdpSocket>>,
}

impl PortBank {
    /// Ports on `ip`; port 0 asks for one of `range` (`(0, 0)`: any free port).
    pub fn new(ip: IpAddr, range: (u16, u16)) -> Self {
        Self {
            ip,
            range,
            parked: Mutex::new(HashMap::new()),
        }
    }

    /// The socket bound to `local`, for the shard that starts its source.
    pub fn take(&self, local: SocketAddr) -> Option<UdpSocket> {
        self.parked.lock().ok()?.remove(&local)
    }

    fn bind_any(&self, ip: IpAddr) -> io::Result<UdpSocket> {
        let (min, max) = self.range;
        if (min, max) == (0, 0) {
            return UdpSocket::bind((ip, 0));
        }
        let count = u32::from(max - min) + 1;
        let start = rand::random::<u32>() % count;
        for i in 0..count {
            let port = min + ((start + i) % count) as u16;
            match UdpSocket::bind((ip, port)) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("every port in {min}-{max} is taken"),
        ))
    }
}

impl SourceIo for PortBank {
    fn bind(&self, port: u16, iface: Option<&str>) -> Result<SocketAddr, String> {
        let ip = match iface {
            Some(iface) => interface_address(iface)?,
            None => self.ip,
        };
        let socket = if port == 0 {
            self.bind_any(ip)
        } else {
            UdpSocket::bind((ip, port))
        }
        .map_err(|e| format!("{ip}: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        super::set_buffers(&socket, SOURCE_SOCKET_BUFFER);
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        self.parked
            .lock()
            .map_err(|_| "port table poisoned".to_owned())?
            .insert(local, socket);
        Ok(local)
    }

    fn bind_multicast(
        &self,
        port: u16,
        group: Ipv4Addr,
        iface: Option<&str>,
    ) -> Result<SocketAddr, String> {
        let socket = multicast_socket(port, group, iface)?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        super::set_buffers(&socket, SOURCE_SOCKET_BUFFER);
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let mut parked = self
            .parked
            .lock()
            .map_err(|_| "port table poisoned".to_owned())?;
        if parked.contains_key(&local) {
            return Err(format!("{local} is already a source's"));
        }
        parked.insert(local, socket);
        Ok(local)
    }

    fn release(&self, local: SocketAddr) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.remove(&local);
        }
    }

    fn check_file(&self, path: &str, codec: &str) -> Result<(), String> {
        load_file(path, codec).map(|_| ())
    }

    fn create_recording(&self, path: &str) -> Result<(), String> {
        super::create_file(std::path::Path::new(path)).map(|_| ())
    }
}

/// Janus's `iface`: an IP address as it is, or the name of an interface (`lo`, `eth0`)
/// turned into its first IPv4 address (else its first IPv6 one).
pub(crate) fn interface_address(iface: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = iface.trim().parse::<IpAddr>() {
        return Ok(ip);
    }
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(format!("interfaces: {}", io::Error::last_os_error()));
    }
    let mut found: Option<IpAddr> = None;
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs made, alive until freeifaddrs.
        let ifa = unsafe { &*entry };
        entry = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() != iface.trim().as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr whose family says which struct it is.
        let ip = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::from(Ipv4Addr::from(u32::from_be(
                        a.sin_addr.s_addr,
                    ))))
                }
                libc::AF_INET6 => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::from(a.sin6_addr.s6_addr))
                }
                _ => None,
            }
        };
        match (found, ip) {
            (None, Some(ip)) => found = Some(ip),
            (Some(IpAddr::V6(_)), Some(ip @ IpAddr::V4(_))) => found = Some(ip),
            _ => {}
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found.ok_or_else(|| format!("no network interface {iface:?} with an address"))
}

/// A UDP socket bound to `group`:`port` (other sockets may bind the same port for other
/// groups), member of `group` on `iface`, and receiving only that group's datagrams.
fn multicast_socket(port: u16, group: Ipv4Addr, iface: Option<&str>) -> Result<UdpSocket, String> {
    if !group.is_multicast() {
        return Err(format!("{group} is not a multicast group"));
    }
    // The interface: an address, or a name turned into its index.
    let (address, index) = match iface {
        None => (Ipv4Addr::UNSPECIFIED, 0),
        Some(text) => match text.parse::<Ipv4Addr>() {
            Ok(ip) => (ip, 0),
            Err(_) => {
                let name = std::ffi::CString::new(text)
                    .map_err(|_| format!("bad interface name {text:?}"))?;
                // SAFETY: `name` is a valid NUL-terminated string for the call's duration.
                let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
                if index == 0 {
                    return Err(format!("no network interface {text:?}"));
                }
                (Ipv4Addr::UNSPECIFIED, index as libc::c_int)
            }
        },
    };
    // SAFETY: plain socket(2); the descriptor is owned by the UdpSocket below at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let socket = unsafe { UdpSocket::from_raw_fd(fd) };
    let set = |level, name, value: &[u8]| -> Result<(), String> {
        // SAFETY: `value` points at `value.len()` readable bytes for the call.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                value.as_ptr().cast(),
                value.len() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error().to_string());
        }
        Ok(())
    };
    let one: libc::c_int = 1;
    let zero: libc::c_int = 0;
    set(libc::SOL_SOCKET, libc::SO_REUSEADDR, &one.to_ne_bytes())
        .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    // Only this group's datagrams, not those of every group joined on the port.
    set(
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_ALL,
        &zero.to_ne_bytes(),
    )
    .map_err(|e| format!("IP_MULTICAST_ALL: {e}"))?;
    let bind = sockaddr_v4(group, port);
    // SAFETY: `bind` is a valid sockaddr_in of the given length.
    let r = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&bind as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(format!("{group}:{port}: {}", io::Error::last_os_error()));
    }
    let mreq = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(group).to_be(),
        },
        imr_address: libc::in_addr {
            s_addr: u32::from(address).to_be(),
        },
        imr_ifindex: index,
    };
    // SAFETY: ip_mreqn is plain old data; viewed as its bytes for setsockopt.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&mreq as *const libc::ip_mreqn).cast::<u8>(),
            std::mem::size_of::<libc::ip_mreqn>(),
        )
    };
    set(libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, bytes)
        .map_err(|e| format!("joining {group}: {e}"))?;
    Ok(socket)
}

fn sockaddr_v4(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Reads a media file for a source (`codec`: opus for Ogg/Opus, pcmu or pcma for raw
/// G.711); the error names the file.
pub fn load_file(path: &str, codec: &str) -> Result<cardea_media::MediaFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    cardea_media::MediaFile::parse(codec, &bytes).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multicast_source_hears_its_group_on_loopback() {
        let bank = PortBank::new(IpAddr::V4(Ipv4Addr::LOCALHOST), (0, 0));
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let group = Ipv4Addr::new(239, 255, 77, 1);
        let other = Ipv4Addr::new(239, 255, 77, 2);
        let local = bank.bind_multicast(port, group, Some("127.0.0.1")).unwrap();
        assert_eq!(local, SocketAddr::from((group, port)));
        // Another group on the same port is another source.
        let second = bank.bind_multicast(port, other, Some("lo")).unwrap();
        let busy = bank.bind_multicast(port, group, None).unwrap_err();
        assert!(busy.contains("already"), "{busy}");
        let socket = bank.take(local).unwrap();
        socket.set_nonblocking(false).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let lo = libc::in_addr {
            s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
        };
        // SAFETY: `lo` is a valid in_addr for the call.
        let r = unsafe {
            libc::setsockopt(
                sender.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_IF,
                (&lo as *const libc::in_addr).cast(),
                std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "IP_MULTICAST_IF on the sender");
        sender.send_to(b"other", (other, port)).unwrap();
        sender.send_to(b"mine", (group, port)).unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"mine", "only the group's datagrams");
        bank.release(second);
        let err = bank
            .bind_multicast(port, Ipv4Addr::new(10, 0, 0, 1), None)
            .unwrap_err();
        assert!(err.contains("not a multicast"), "{err}");
        let err = bank
            .bind_multicast(port, group, Some("no-such-if0"))
            .unwrap_err();
        assert!(err.contains("no network interface"), "{err}");
    }

    #[test]
    fn iface_is_an_address_or_an_interface_name() {
        assert_eq!(
            interface_address("127.0.0.2"),
            Ok(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
        assert_eq!(interface_address("lo"), Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let err = interface_address("no-such-if0").unwrap_err();
        assert!(err.contains("no network interface"), "{err}");
        let bank = PortBank::new(IpAddr::V4(Ipv4Addr::LOCALHOST), (0, 0));
        let local = bank.bind(0, Some("127.0.0.3")).unwrap();
        assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
        let err = bank.bind(0, Some("no-such-if0")).unwrap_err();
        assert!(err.contains("no network interface"), "{err}");
    }

    #[test]
    fn ports_are_bound_at_once_taken_once_and_a_busy_one_is_refused() {
        let bank = PortBank::new(IpAddr::V4(Ipv4Addr::LOCALHOST), (0, 0));
        let a = bank.bind(0, None).unwrap();
        assert_ne!(a.port(), 0);
        let busy = bank.bind(a.port(), None).unwrap_err();
        assert!(busy.contains("in use"), "{busy}");
        assert!(bank.take(a).is_some());
        assert!(bank.take(a).is_none());
        let b = bank.bind(0, None).unwrap();
        bank.release(b);
        assert!(bank.take(b).is_none());
    }
}
