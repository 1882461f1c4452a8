//! Sockets: the media shard threads (the only code that touches media sockets), the RTP
//! ports of SIP calls, and send batching.

mod batch;
mod files;
mod mjr;
mod rtp_ports;
mod rtsp;
mod shard;
mod source_ports;
mod wav;

pub use files::{create_file, set_protected, DEFAULT_PROTECTED};
pub use mjr::MjrFiles;
pub use rtp_ports::{bind_rtp_pair, parse_port_range, rtp_port_range};
pub use rtsp::{spawn_rtsp, RtspReport};
pub(crate) use shard::set_buffers;
pub use shard::{spawn_shard, ShardHandle, ShardOut};
pub use source_ports::{load_file, PortBank};
pub use wav::WavWriter;

/// Reads a DTLS certificate and key from PEM files (certificate and PKCS#8 key).
pub fn load_certificate(cert: &str, key: &str) -> Result<cardea_media::DtlsCert, String> {
    let der = |path: &str| -> Result<Vec<u8>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("");
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| format!("{path}: not PEM ({e})"))
    };
    Ok(cardea_media::DtlsCert {
        certificate: der(cert)?,
        private_key: der(key)?,
    })
}
