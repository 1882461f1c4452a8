//! The plain RTP leg toward SIP peers: the other half of the WebRTC⇄SIP bridge, sans-IO.
//!
//! One [`RtpLeg`] per SIP call, with an audio stream and optionally a video one, each on a
//! port the shard owns. It latches to the peer's real source (symmetric RTP, RFC 4961),
//! forwards without transcoding (payload types mapped, SSRC/seq/timestamp rewritten into one
//! continuous stream), speaks RFC 4733 telephone-events both ways, sends RTCP SR/RR
//! (RFC 3550 §6.4) and reads the peer's, with RTCP-mux (RFC 5761) or a separate port, and
//! protects media with SDES-SRTP keys (RFC 4568) when the SDP says `RTP/SAVP`.

mod dtmf;
mod error;
mod latch;
mod leg;
mod output;
mod packet;
mod pt_map;
mod rtcp;
mod seq_rewriter;
mod srtp;
mod stream;

pub use dtmf::{
    digit_of, event_of, DtmfPacket, DtmfReceiver, DtmfReport, DtmfSender, TelephoneEvent,
};
pub use error::{CryptoError, DtmfError, PacketError, PtMapError, RtpLegError};
pub use latch::{Latch, LatchMode, Verdict};
pub use leg::{Component, RtpLeg, RtpLegConfig};
pub use output::{InboundRtp, OutboundRtp, RtpLegEvent, Transmit};
pub use packet::{is_rtcp, write_header, RtpHeader, RTP_HEADER_LEN};
pub use pt_map::PtMap;
pub use rtcp::{
    empty_receiver_report, ntp_from_unix, parse_compound, round_trip, write_pli, ReceiveCounters,
    ReportBlock, RtcpSummary, SendCounters, SenderInfo,
};
pub use seq_rewriter::{Rewritten, SeqRewriter};
pub use srtp::{CryptoAttribute, CryptoSuite, SrtpKey, SrtpSession, SrtpTransform};
pub use stream::{RtpStreamConfig, RtpStreamStats};

use crate::MediaKind;

/// The name under which one direction of a bridged call is recorded, keyed on the call's
/// RTP leg: `user-audio`/`user-video` for what the browser sends, `peer-audio`/`peer-video`
/// for what the SIP peer sends (the four files of Janus's SIP `recording`).
pub fn recorded_mid(kind: MediaKind, peer: bool) -> &'static str {
    match (kind, peer) {
        (MediaKind::Audio, false) => "user-audio",
        (MediaKind::Video, false) => "user-video",
        (MediaKind::Audio, true) => "peer-audio",
        (MediaKind::Video, true) => "peer-video",
    }
}
