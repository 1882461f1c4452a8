//! Sends many datagrams with one `sendmmsg(2)` call.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Most datagrams handed to the kernel per call.
pub const BATCH: usize = 64;

/// Reusable buffers for one socket's `sendmmsg` calls, so a send allocates nothing.
pub struct SendBatch {
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers inside are only ever set and used within one `send` call.
unsafe impl Send for SendBatch {}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    pub fn new() -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Self {
            addrs: vec![zero_addr; BATCH],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                BATCH
            ],
            hdrs: vec![zero_hdr; BATCH],
        }
    }

    /// Sends up to `BATCH` datagrams; returns how many the kernel took. A full socket buffer
    /// (`EAGAIN`) drops the rest, as UDP would.
    pub fn send(&mut self, fd: RawFd, items: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
        let n = items.len().min(BATCH);
        for (i, (addr, data)) in items[..n].iter().enumerate() {
            let len = write_sockaddr(&mut self.addrs[i], addr);
            self.iovs[i] = libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let hdr = &mut self.hdrs[i].msg_hdr;
            hdr.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
            hdr.msg_namelen = len;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: hdrs[sent..n] point into self.addrs/self.iovs and into `items`, which
            // all outlive this call; the count passed matches the initialised entries.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[sent..].as_mut_ptr(),
                    (n - sent) as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Ok(sent),
                    _ => {
                        // One bad destination must not sink the batch: skip it.
                        sent += 1;
                        if sent >= n {
                            return Err(e);
                        }
                        continue;
                    }
                }
            }
            sent += r as usize;
        }
        // Clear the pointers into `items` so nothing dangles past this call.
        for iov in &mut self.iovs[..n] {
            iov.iov_base = std::ptr::null_mut();
        }
        Ok(sent)
    }
}

/// How many datagrams one `recvmmsg` takes at most.
pub const RECV_BATCH: usize = 32;
/// Room for one datagram: more than any MTU a media path uses (a longer one is cut, and
/// then fails its checks as a cut datagram would).
const SLOT: usize = 2048;

/// Reusable buffers for `recvmmsg`: up to `RECV_BATCH` datagrams per system call, where a
/// `recvfrom` loop makes one call per datagram plus one that finds the socket empty.
pub struct RecvBatch {
    data: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// How many of the slots the last `recv` filled.
    filled: usize,
    /// How many headers the kernel may have written to since they were last made ready.
    touched: usize,
}

// SAFETY: the raw pointers inside point into the struct's own heap buffers, which are
// allocated once and never resized, so they stay valid wherever the struct moves.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    pub fn new() -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let mut batch = Self {
            data: vec![0; RECV_BATCH * SLOT],
            addrs: vec![zero_addr; RECV_BATCH],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                RECV_BATCH
            ],
            hdrs: vec![zero_hdr; RECV_BATCH],
            filled: 0,
            // Every header is made ready below.
            touched: RECV_BATCH,
        };
        let base = batch.data.as_mut_ptr();
        for i in 0..RECV_BATCH {
            batch.iovs[i] = libc::iovec {
                // SAFETY: slot i lies within `data` (RECV_BATCH * SLOT bytes).
                iov_base: unsafe { base.add(i * SLOT) } as *mut libc::c_void,
                iov_len: SLOT,
            };
            let hdr = &mut batch.hdrs[i].msg_hdr;
            hdr.msg_name = &mut batch.addrs[i] as *mut _ as *mut libc::c_void;
            hdr.msg_iov = &mut batch.iovs[i];
            hdr.msg_iovlen = 1;
        }
        batch.ready_headers();
        batch
    }

    /// Resets what the kernel changed in the headers the last call filled.
    fn ready_headers(&mut self) {
        for hdr in &mut self.hdrs[..self.touched] {
            hdr.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_flags = 0;
            hdr.msg_len = 0;
        }
        self.touched = 0;
        self.filled = 0;
    }

    /// Takes what the socket holds, up to `RECV_BATCH` datagrams, without waiting; returns
    /// how many (0: none was there). Fewer than `RECV_BATCH` means the socket was emptied:
    /// an edge-triggered poll reports the next arrival.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.ready_headers();
        // SAFETY: every header points into this struct's heap buffers (set up in `new`),
        // which outlive the call; the count matches the headers there are.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                RECV_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            // The first header may have been written to before the call failed.
            self.touched = 1;
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        self.filled = r as usize;
        self.touched = self.filled;
        Ok(self.filled)
    }

    /// Datagram `i` of the last `recv` with its source (`None` past what it filled, or for
    /// a source address of no IP family).
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.filled {
            return None;
        }
        let hdr = &self.hdrs[i];
        let len = (hdr.msg_len as usize).min(SLOT);
        let from = read_sockaddr(&self.addrs[i])?;
        Some((from, &self.data[i * SLOT..i * SLOT + len]))
    }
}

fn read_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET; storage is large enough
            // and aligned for it.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn write_sockaddr(storage: &mut libc::sockaddr_storage, addr: &SocketAddr) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_receive_batch_takes_every_waiting_datagram_with_its_source() {
        for host in ["127.0.0.1:0", "[::1]:0"] {
            let rx = std::net::UdpSocket::bind(host).unwrap();
            let tx = std::net::UdpSocket::bind(host).unwrap();
            let to = rx.local_addr().unwrap();
            let mut batch = RecvBatch::new();
            assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0, "nothing waiting");
            // More than a batch: the first call takes RECV_BATCH, the next the rest.
            let count = RECV_BATCH + 5;
            for i in 0..count {
                tx.send_to(&vec![i as u8; 10 + i], to).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut seen = 0;
            while seen < count {
                let n = batch.recv(rx.as_raw_fd()).unwrap();
                assert!(n > 0 && n <= RECV_BATCH);
                for i in 0..n {
                    let (from, data) = batch.get(i).unwrap();
                    assert_eq!(from, tx.local_addr().unwrap());
                    assert_eq!(data, vec![seen as u8; 10 + seen].as_slice());
                    seen += 1;
                }
                assert!(batch.get(n).is_none());
            }
            assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0, "emptied");
        }
    }

    #[test]
    fn a_batch_arrives_whole_and_in_order() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 + i as usize]).collect();
        let items: Vec<(SocketAddr, &[u8])> = payloads.iter().map(|p| (to, p.as_slice())).collect();
        let mut batch = SendBatch::new();
        assert_eq!(batch.send(tx.as_raw_fd(), &items).unwrap(), 10);
        let mut buf = [0u8; 512];
        for i in 0..10u8 {
            let (n, _) = rx.recv_from(&mut buf).unwrap();
            assert_eq!(n, 100 + i as usize);
            assert!(buf[..n].iter().all(|b| *b == i));
        }
    }
}
