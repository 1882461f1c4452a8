/// Counters of one media stream (one mid) of a leg.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    pub mid: String,
    pub kind: &'static str,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub keyframe_requests_in: u64,
}

/// A snapshot of a leg for the Admin API (Janus's handle_info `streams`).
#[derive(Debug, Clone, Default)]
pub struct LegStats {
    pub ice_state: &'static str,
    pub dtls_connected: bool,
    pub local_ufrag: String,
    pub remote_addr: Option<std::net::SocketAddr>,
    pub local_addr: Option<std::net::SocketAddr>,
    pub streams: Vec<StreamStats>,
    pub data_messages_in: u64,
    pub data_messages_out: u64,
    pub remb_cap_bps: Option<u64>,
}
