//! The one JSON line a run prints, and the arithmetic behind it.

use serde::Serialize;

/// The result of one run. Units are in the field names; `null` means "not measured" (no
/// server PID given, no echo received, no session up).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub server: String,
    pub sessions: u32,
    pub sessions_connected: u32,
    pub sessions_failed: u32,
    /// Opus packets per second per session, and the payload size.
    pub audio_pps: u32,
    pub audio_size: usize,
    /// VP8 packets per second per session (0: audio only), and the payload size.
    pub video_pps: u32,
    pub video_size: usize,
    pub warmup_s: f64,
    /// Length of the measuring window actually measured.
    pub window_s: f64,
    /// Probes sent inside the window, and what became of them.
    pub sent_packets: u64,
    pub lost_packets: u64,
    pub duplicate_packets: u64,
    /// Echoes carrying another peer's probe or an unknown sequence: misrouting.
    pub foreign_packets: u64,
    pub loss_pct: f64,
    /// Packets per second we sent, and packets per second the server relayed back to us.
    pub offered_pps: f64,
    pub relayed_pps: f64,
    /// Round trip client → server → client of probes sent in the window.
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub latency_ms_max: Option<f64>,
    /// `create` → `webrtcup`, as the client sees it.
    pub setup_ms_p50: Option<f64>,
    pub setup_ms_p99: Option<f64>,
    pub server_pid: Option<u32>,
    /// Server CPU time (user + system) over the window per packet relayed in the window:
    /// each relayed packet was also received, decrypted and re-encrypted by the server.
    pub server_cpu_us_per_packet: Option<f64>,
    /// Server CPU over the window, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server resident memory at the end of the window, and its growth since before the first
    /// session divided by the connected sessions.
    pub server_rss_kib: Option<u64>,
    pub server_rss_kib_per_session: Option<f64>,
    /// This tool's CPU over the window, percent of one core: near 100 the media thread is
    /// saturated and the figures describe the client, not the server.
    pub client_cpu_pct: f64,
    /// Datagrams our sockets refused, and packets skipped because the media loop lagged.
    pub client_send_errors: u64,
    pub client_skipped_packets: u64,
    /// Where lost packets went: datagrams the kernel dropped for a full receive buffer during
    /// the window, host-wide (server and client sockets alike), and the drops counted on this
    /// tool's own sockets over the run. Loss with neither is loss inside the server.
    pub udp_rcvbuf_errors: Option<u64>,
    pub client_socket_drops: Option<u64>,
    /// The first few problems met (failed sessions, peers that dropped, server gone).
    pub errors: Vec<String>,
}

/// The `p`-th percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Microseconds to milliseconds, rounded to the microsecond.
pub fn us_to_ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// Rounds to three decimals, so the JSON line stays readable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
