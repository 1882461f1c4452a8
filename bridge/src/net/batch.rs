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
