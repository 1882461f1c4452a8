//! UDP ports of plain RTP sources (Streaming mountpoints): bound at once on the control
//! plane, so that `create` can answer with them, and parked here until the source that
//! uses them starts on its shard; and the files that `live` and `ondemand` sources play.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
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

    fn bind_any(&self) -> io::Result<UdpSocket> {
        let (min, max) = self.range;
        if (min, max) == (0, 0) {
            return UdpSocket::bind((self.ip, 0));
        }
        let count = u32::from(max - min) + 1;
        let start = rand::random::<u32>() % count;
        for i in 0..count {
            let port = min + ((start + i) % count) as u16;
            match UdpSocket::bind((self.ip, port)) {
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
    fn bind(&self, port: u16) -> Result<SocketAddr, String> {
        let socket = if port == 0 {
            self.bind_any()
        } else {
            UdpSocket::bind((self.ip, port))
        }
        .map_err(|e| e.to_string())?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        super::set_buffers(&socket, SOURCE_SOCKET_BUFFER);
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        self.parked
            .lock()
            .map_err(|_| "port table poisoned".to_owned())?
            .insert(local, socket);
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

/// Reads a media file for a source (`codec`: opus for Ogg/Opus, pcmu or pcma for raw
/// G.711); the error names the file.
pub fn load_file(path: &str, codec: &str) -> Result<cardea_media::MediaFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    cardea_media::MediaFile::parse(codec, &bytes).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn ports_are_bound_at_once_taken_once_and_a_busy_one_is_refused() {
        let bank = PortBank::new(IpAddr::V4(Ipv4Addr::LOCALHOST), (0, 0));
        let a = bank.bind(0).unwrap();
        assert_ne!(a.port(), 0);
        let busy = bank.bind(a.port()).unwrap_err();
        assert!(busy.contains("in use"), "{busy}");
        assert!(bank.take(a).is_some());
        assert!(bank.take(a).is_none());
        let b = bank.bind(0).unwrap();
        bank.release(b);
        assert!(bank.take(b).is_none());
    }
}
