//! Minimal RTCP for the SIP side (RFC 3550 §6): our SR or RR with one report block and an
//! SDES CNAME (§6.1: every compound packet carries one), and reading the peer's SR/RR for
//! loss, jitter and round-trip time. Counters follow RFC 3550 Appendix A.3 and A.8.
//!
//! ```text
//! SR:  |V=2|P|RC|  PT=200  | length | SSRC of sender
//!      | NTP ts (64) | RTP ts | sender's packet count | sender's octet count
//!      | report blocks: SSRC | fraction lost(8) cumulative lost(24) | ext. highest seq
//!      |                 jitter | LSR | DLSR
//! ```

use std::time::{Duration, Instant};

use super::error::PacketError;
use super::seq_rewriter::ticks;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
/// Payload-specific feedback (RFC 4585 §6.1): FMT 1 is PLI, FMT 4 FIR (RFC 5104 §4.3.1).
const PT_PSFB: u8 = 206;
const FMT_PLI: usize = 1;
const FMT_FIR: usize = 4;
const SDES_CNAME: u8 = 1;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A wall-clock time as a 64-bit NTP timestamp (RFC 3550 §4).
pub fn ntp_from_unix(since_unix_epoch: Duration) -> u64 {
    let secs = since_unix_epoch.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, as LSR and DLSR use them (units of 1/65536 s).
fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// What we have sent on a stream (RFC 3550 §6.4.1 sender info).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendCounters {
    pub packets: u32,
    /// Payload octets only, headers and padding excluded.
    pub octets: u32,
    /// Packets sent since the last report: `true` makes the next report an SR (§6.4).
    pub sent_since_report: bool,
}

impl SendCounters {
    pub fn on_sent(&mut self, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.sent_since_report = true;
    }
}

/// One report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed in the packet (duplicates can make it negative).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    pub jitter: u32,
    pub last_sr: u32,
    pub delay_since_last_sr: u32,
}

/// Reception counters of the peer's stream (RFC 3550 Appendix A.3, A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceiveCounters {
    ssrc: Option<u32>,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    pub received: u64,
    pub octets: u64,
    expected_prior: u32,
    received_prior: u64,
    transit: Option<u32>,
    /// Interarrival jitter ×16 (A.8 keeps it scaled to avoid floating point).
    jitter_x16: u32,
    /// Middle bits of the peer's last SR and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl ReceiveCounters {
    /// Counts an RTP packet; `arrival_ticks` is the arrival time on the stream's clock.
    pub fn on_rtp(&mut self, ssrc: u32, seq: u16, ts: u32, payload_len: usize, arrival_ticks: u32) {
        if self.ssrc != Some(ssrc) {
            *self = Self {
                ssrc: Some(ssrc),
                base_seq: u32::from(seq),
                max_seq: seq,
                last_sr: self.last_sr,
                ..Self::default()
            };
        } else {
            let delta = seq.wrapping_sub(self.max_seq) as i16;
            if delta > 0 {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(1 << 16);
                }
                self.max_seq = seq;
            }
        }
        self.received += 1;
        self.octets += payload_len as u64;
        // A.8: J += (|D| - J) / 16, with D the change in transit time.
        let transit = arrival_ticks.wrapping_sub(ts);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            let j = self.jitter_x16 as i64;
            self.jitter_x16 = (j + i64::from(d) - ((j + 8) >> 4)).clamp(0, u32::MAX as i64) as u32;
        }
        self.transit = Some(transit);
    }

    /// Remembers the peer's SR for the LSR/DLSR of our next block.
    pub fn on_sender_report(&mut self, ntp: u64, now: Instant) {
        self.last_sr = Some((ntp_middle(ntp), now));
    }

    /// The block about the peer's stream, and the interval counters restarted (A.3).
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let ssrc = self.ssrc?;
        let extended = self.cycles.wrapping_add(u32::from(self.max_seq));
        let expected = u64::from(extended.wrapping_sub(self.base_seq)) + 1;
        let lost = (expected as i64 - self.received as i64).clamp(-0x80_0000, 0x7f_ffff) as i32;
        let expected_interval = expected.saturating_sub(u64::from(self.expected_prior));
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected as u32;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_duration_since(at);
                (lsr, ticks(d, 65_536))
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: lost,
            extended_highest_seq: extended,
            jitter: self.jitter_x16 >> 4,
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// The sender-info part of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    pub ssrc: u32,
    pub ntp: u64,
    pub rtp_ts: u32,
    pub packets: u32,
    pub octets: u32,
}

/// What a compound RTCP packet from the peer told us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpSummary {
    /// The first SSRC seen (sender of the SR/RR), for latching.
    pub sender_ssrc: Option<u32>,
    pub sender_info: Option<SenderInfo>,
    /// The report block about our stream, if the peer sent one.
    pub about_us: Option<ReportBlock>,
    pub bye: bool,
    /// A key frame was asked for (PLI or FIR), of the stream with this SSRC (0 when the
    /// request names none).
    pub keyframe_for: Option<u32>,
}

/// Reads a compound RTCP packet; `our_ssrc` picks the report block about our stream.
pub fn parse_compound(data: &[u8], our_ssrc: u32) -> Result<RtcpSummary, PacketError> {
    let mut summary = RtcpSummary::default();
    let mut rest = data;
    if rest.is_empty() {
        return Err(PacketError::TooShort(0));
    }
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(PacketError::TooShort(rest.len()));
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(PacketError::Version(version));
        }
        let count = usize::from(rest[0] & 0x1f);
        let pt = rest[1];
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let packet = rest.get(..len).ok_or(PacketError::RtcpLength)?;
        rest = &rest[len..];
        let body = &packet[4..];
        let blocks_at = match pt {
            PT_SR if body.len() >= 24 => {
                let ssrc = be32(body, 0);
                summary.sender_ssrc.get_or_insert(ssrc);
                summary.sender_info = Some(SenderInfo {
                    ssrc,
                    ntp: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                    rtp_ts: be32(body, 12),
                    packets: be32(body, 16),
                    octets: be32(body, 20),
                });
                24
            }
            PT_RR if body.len() >= 4 => {
                summary.sender_ssrc.get_or_insert(be32(body, 0));
                4
            }
            PT_SR | PT_RR => return Err(PacketError::TooShort(packet.len())),
            PT_BYE => {
                summary.bye = true;
                continue;
            }
            // PLI names the media source in the header; FIR in its first FCI entry.
            PT_PSFB if count == FMT_PLI && body.len() >= 8 => {
                summary.keyframe_for.get_or_insert(be32(body, 4));
                continue;
            }
            PT_PSFB if count == FMT_FIR && body.len() >= 12 => {
                summary.keyframe_for.get_or_insert(be32(body, 8));
                continue;
            }
            _ => continue,
        };
        for i in 0..count {
            let Some(b) = body.get(blocks_at + 24 * i..blocks_at + 24 * (i + 1)) else {
                return Err(PacketError::RtcpLength);
            };
            if be32(b, 0) != our_ssrc {
                continue;
            }
            let lost = be32(b, 4) & 0x00ff_ffff;
            // Sign-extend the 24-bit cumulative loss.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            summary.about_us = Some(ReportBlock {
                ssrc: our_ssrc,
                fraction_lost: b[4],
                cumulative_lost,
                extended_highest_seq: be32(b, 8),
                jitter: be32(b, 12),
                last_sr: be32(b, 16),
                delay_since_last_sr: be32(b, 20),
            });
        }
    }
    Ok(summary)
}

/// Round-trip time from a report block about us (RFC 3550 §6.4.1: A - LSR - DLSR).
pub fn round_trip(block: &ReportBlock, ntp_now: u64) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let rtt = ntp_middle(ntp_now)
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr);
    // A negative result (clock trouble) shows as a huge value: refuse it.
    (rtt < 0x8000_0000).then(|| Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536))
}

/// What our next report says.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub ssrc: u32,
    pub ntp: u64,
    pub rtp_ts: u32,
    /// `Some` makes an SR, `None` an RR.
    pub sent: Option<SendCounters>,
    pub block: Option<ReportBlock>,
    pub cname: &'a str,
}

/// Appends the compound packet SR|RR + SDES(CNAME) to `out`.
pub fn write_report(out: &mut Vec<u8>, r: &ReportInput<'_>) {
    let blocks = u8::from(r.block.is_some());
    let (pt, words) = match r.sent {
        Some(_) => (PT_SR, 6 + 6 * u16::from(blocks)),
        None => (PT_RR, 1 + 6 * u16::from(blocks)),
    };
    out.extend_from_slice(&[0x80 | blocks, pt]);
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(&r.ssrc.to_be_bytes());
    if let Some(sent) = r.sent {
        out.extend_from_slice(&r.ntp.to_be_bytes());
        out.extend_from_slice(&r.rtp_ts.to_be_bytes());
        out.extend_from_slice(&sent.packets.to_be_bytes());
        out.extend_from_slice(&sent.octets.to_be_bytes());
    }
    if let Some(b) = r.block {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = (b.cumulative_lost as u32) & 0x00ff_ffff;
        out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&b.extended_highest_seq.to_be_bytes());
        out.extend_from_slice(&b.jitter.to_be_bytes());
        out.extend_from_slice(&b.last_sr.to_be_bytes());
        out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
    }
    // SDES with one chunk: SSRC, CNAME item, null terminator, padded to 32 bits (§6.5).
    let cname = &r.cname.as_bytes()[..r.cname.len().min(255)];
    let chunk = 4 + 2 + cname.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    out.extend_from_slice(&[0x81, PT_SDES]);
    out.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    out.extend_from_slice(&r.ssrc.to_be_bytes());
    out.extend_from_slice(&[SDES_CNAME, cname.len() as u8]);
    out.extend_from_slice(cname);
    out.resize(out.len() + padded - chunk + 1, 0);
}

/// An empty receiver report (RFC 3550 §6.4.2: no report block) from `ssrc`: the least
/// RTCP packet, which tells a receiver where our RTCP comes from.
pub fn empty_receiver_report(ssrc: u32) -> [u8; 8] {
    let s = ssrc.to_be_bytes();
    [0x80, PT_RR, 0, 1, s[0], s[1], s[2], s[3]]
}

/// Appends a Picture Loss Indication (RFC 4585 §6.3.1): `sender` asks the source of
/// `media` for a key frame.
pub fn write_pli(out: &mut Vec<u8>, sender: u32, media: u32) {
    // FMT 1, payload-specific feedback (206), length 2 words after the first.
    out.extend_from_slice(&[0x81, 206, 0, 2]);
    out.extend_from_slice(&sender.to_be_bytes());
    out.extend_from_slice(&media.to_be_bytes());
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pli_and_fir_are_read_as_key_frame_requests() {
        let mut pli = Vec::new();
        write_pli(&mut pli, 1, 0xabcd);
        let s = parse_compound(&pli, 7).unwrap();
        assert_eq!(s.keyframe_for, Some(0xabcd));
        // An RR then a FIR (FCI: SSRC, seq nr, 3 reserved bytes).
        let mut fir = vec![0x80, PT_RR, 0, 1, 0, 0, 0, 1];
        fir.extend_from_slice(&[0x84, PT_PSFB, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0]);
        fir.extend_from_slice(&[0, 0, 0x12, 0x34, 9, 0, 0, 0]);
        let s = parse_compound(&fir, 7).unwrap();
        assert_eq!((s.sender_ssrc, s.keyframe_for), (Some(1), Some(0x1234)));
        // A truncated FIR is no request, and no error either (the length is consistent).
        let short = [0x84, PT_PSFB, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(parse_compound(&short, 7).unwrap().keyframe_for, None);
    }

    #[test]
    fn reports_roundtrip_through_the_parser() {
        let block = ReportBlock {
            ssrc: 42,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_seq: 70_000,
            jitter: 12,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65_536,
        };
        let mut out = Vec::new();
        write_report(
            &mut out,
            &ReportInput {
                ssrc: 7,
                ntp: 0xaabb_ccdd_0011_2233,
                rtp_ts: 99,
                sent: Some(SendCounters {
                    packets: 10,
                    octets: 1600,
                    sent_since_report: true,
                }),
                block: Some(block),
                cname: "cardea",
            },
        );
        assert_eq!(out.len() % 4, 0);
        let s = parse_compound(&out, 42).unwrap();
        assert_eq!(s.sender_ssrc, Some(7));
        let info = s.sender_info.unwrap();
        assert_eq!(
            (info.ntp, info.rtp_ts, info.packets, info.octets),
            (0xaabb_ccdd_0011_2233, 99, 10, 1600)
        );
        assert_eq!(s.about_us, Some(block));
    }

    #[test]
    fn loss_and_jitter_follow_appendix_a() {
        let t0 = Instant::now();
        let mut c = ReceiveCounters::default();
        for (i, seq) in [65_534u16, 65_535, 1, 2].into_iter().enumerate() {
            c.on_rtp(5, seq, 160 * i as u32, 160, 160 * i as u32 + 1000);
        }
        let b = c.report_block(t0).unwrap();
        assert_eq!(b.extended_highest_seq, 65_536 + 2);
        assert_eq!(b.cumulative_lost, 1, "seq 0 is missing");
        assert_eq!(b.fraction_lost, 51, "1 of 5 lost, in 1/256");
        assert_eq!(b.jitter, 0, "perfectly paced");
        assert_eq!(
            c.report_block(t0).unwrap().fraction_lost,
            0,
            "interval restarted"
        );
    }

    #[test]
    fn round_trip_is_a_minus_lsr_minus_dlsr() {
        let b = ReportBlock {
            last_sr: 0x0001_0000,
            delay_since_last_sr: 0x0000_8000,
            ..Default::default()
        };
        let rtt = round_trip(&b, 0x0000_0001_c000_0000).unwrap();
        assert_eq!(rtt, Duration::from_millis(250));
    }

    #[test]
    fn truncated_compounds_are_errors() {
        let mut out = Vec::new();
        write_report(
            &mut out,
            &ReportInput {
                ssrc: 7,
                ntp: 0,
                rtp_ts: 0,
                sent: None,
                block: Some(ReportBlock::default()),
                cname: "x",
            },
        );
        for cut in 0..out.len() {
            let _ = parse_compound(&out[..cut], 0);
        }
        assert!(parse_compound(&out[..10], 0).is_err());
    }
}
