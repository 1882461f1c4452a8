//! Plain RTP sources (a Streaming mountpoint fed by ffmpeg, GStreamer or a camera): each
//! stream listens on its own local port; what arrives is checked, numbered and handed to
//! the shard, which forwards it along router edges to the viewers' WebRTC legs. A source
//! keeps the packets of the last key frame of each video stream, so that a new viewer
//! starts decoding at once instead of waiting for the next one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{Mid, Pt, Rid};
use str0m::rtp::ExtensionValues;

use crate::bridge::SeqExtender;
use crate::leg::Forward;
use crate::rtp_leg::{RtpHeader, SrtpKey, SrtpSession, SrtpTransform};
use crate::{LegEvent, LegId, MediaEvent, MediaFile, MediaKind, VideoCodec};

/// Silence after which a stream counts as stopped (`media` receiving false).
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// How often a live stream reports its counters (what `info` shows as `age_ms`).
const REPORT_EVERY: Duration = Duration::from_millis(250);
/// At most this many packets of one key frame are kept (a 4K I-frame is a few hundred).
const KEYFRAME_PACKETS: usize = 1024;

/// One stream of a source, as configured.
#[derive(Debug, Clone)]
pub struct SourceStream {
    pub mid: Mid,
    pub kind: MediaKind,
    /// The local address RTP arrives on (`None` for a file).
    pub local: Option<SocketAddr>,
    /// A file played in a loop instead, paced by its payloads' durations.
    pub file: Option<MediaFile>,
    /// The sender protects its RTP with this SRTP key (Janus's `srtpsuite`/`srtpcrypto`).
    pub srtp: Option<SrtpKey>,
    /// Packets of another payload type are dropped (`None`: any is taken).
    pub pt: Option<u8>,
    pub clock_rate: u32,
    /// The video codec, for key-frame detection (`None` for audio).
    pub codec: Option<VideoCodec>,
    /// A data stream: each datagram is a data-channel message for the viewers (not RTP).
    pub data: Option<DataMode>,
    /// The simulcast layer this stream is, of a video sent on several ports (each layer
    /// is a stream of its own, routed to the same viewer stream, which picks one).
    pub rid: Option<Rid>,
    /// The local address of the stream's RTCP port (Janus's `rtcpport`): whoever sends
    /// RTCP there is sent key-frame requests (PLI) back.
    pub rtcp: Option<SocketAddr>,
}

/// How a data stream's datagrams reach viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataMode {
    /// Sent as binary messages (else as text).
    pub binary: bool,
    /// The last message is kept and given to each new viewer (Janus's `buffermsg`).
    pub keep_last: bool,
}

/// What a source tells the control plane about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub mid: String,
    pub kind: MediaKind,
    /// Packets are arriving (false after a second of silence).
    pub receiving: bool,
    /// When the last packet arrived.
    pub last_packet: Option<Instant>,
    pub packets: u64,
    pub bytes: u64,
    /// Datagrams dropped: not RTP, or another payload type.
    pub dropped: u64,
}

/// A packet as a source keeps it (the key-frame buffer).
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    ssrc: u32,
    seq: u64,
    ts: u32,
    pt: u8,
    marker: bool,
    payload: Arc<[u8]>,
    at: Instant,
}

impl Kept {
    pub(crate) fn forward(&self, clock: u32) -> Forward<'_> {
        Forward {
            ssrc: self.ssrc,
            seq: self.seq,
            ts: self.ts,
            clock,
            pt: Pt::from(self.pt),
            marker: self.marker,
            payload: &self.payload,
            ext: ExtensionValues::default(),
            at: self.at,
        }
    }
}

#[derive(Debug)]
struct StreamIn {
    config: SourceStream,
    seq: SeqExtender,
    ssrc: Option<u32>,
    receiving: bool,
    last_packet: Option<Instant>,
    /// The highest sequence index seen on the current SSRC.
    latest_seq: u64,
    next_report: Option<Instant>,
    packets: u64,
    bytes: u64,
    dropped: u64,
    /// The last key frame's packets (same timestamp), and whether it is still growing.
    keyframe: Vec<Kept>,
    /// A data stream's last message, when it is kept.
    last_data: Vec<u8>,
    /// Where the sender's RTCP comes from (key-frame requests go there), and when the
    /// last request went.
    rtcp_peer: Option<SocketAddr>,
    last_pli: Option<Instant>,
    collecting: bool,
    playout: Option<Playout>,
    srtp: Option<SrtpSession>,
    /// Decrypted packets are written here (no allocation per packet).
    clear: Vec<u8>,
}

/// Where a file stream is: the next payload and when it is due.
#[derive(Debug)]
struct Playout {
    file: MediaFile,
    next: usize,
    due: Instant,
    seq: u64,
    ts: u32,
    ssrc: u32,
}

/// A plain RTP source on a shard.
#[derive(Debug)]
pub struct RtpSource {
    id: LegId,
    streams: Vec<StreamIn>,
    events: Vec<LegEvent>,
}

impl RtpSource {
    /// A source whose files start playing at `now`.
    pub fn new(id: LegId, streams: Vec<SourceStream>, now: Instant) -> Self {
        Self {
            id,
            streams: streams
                .into_iter()
                .enumerate()
                .map(|(i, config)| StreamIn {
                    srtp: config.srtp.as_ref().and_then(|key| {
                        SrtpSession::new(key, key)
                            .map_err(|e| tracing::warn!("source stream {}: SRTP: {e}", config.mid))
                            .ok()
                    }),
                    clear: Vec::new(),
                    playout: config.file.clone().map(|file| Playout {
                        file,
                        next: 0,
                        due: now,
                        seq: 0,
                        ts: 0,
                        // Any fixed value does: viewers' streams are renumbered.
                        ssrc: 0x5354_0000 | i as u32,
                    }),
                    config,
                    seq: SeqExtender::default(),
                    ssrc: None,
                    receiving: false,
                    last_packet: None,
                    latest_seq: 0,
                    next_report: None,
                    packets: 0,
                    bytes: 0,
                    dropped: 0,
                    keyframe: Vec::new(),
                    last_data: Vec::new(),
                    rtcp_peer: None,
                    last_pli: None,
                    collecting: false,
                })
                .collect(),
            events: Vec::new(),
        }
    }

    pub fn id(&self) -> LegId {
        self.id
    }

    pub fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.streams
            .iter()
            .flat_map(|s| [s.config.local, s.config.rtcp])
            .flatten()
    }

    /// A datagram on a stream's RTCP port: its sender is where key-frame requests go.
    /// False if `local` is no RTCP port.
    pub(crate) fn rtcp_datagram(&mut self, local: SocketAddr, from: SocketAddr) -> bool {
        let Some(stream) = self
            .streams
            .iter_mut()
            .find(|s| s.config.rtcp == Some(local))
        else {
            return false;
        };
        stream.rtcp_peer = Some(from);
        true
    }

    /// A PLI for video stream `mid`'s sender, if it has an RTCP port a sender talked to
    /// and none went in the last second: (from, to, packet).
    pub(crate) fn keyframe_request(
        &mut self,
        mid: Mid,
        now: Instant,
    ) -> Option<(SocketAddr, SocketAddr, [u8; 12])> {
        let stream = self
            .streams
            .iter_mut()
            .find(|s| s.config.mid == mid && s.config.codec.is_some())?;
        let (local, peer, ssrc) = (stream.config.rtcp?, stream.rtcp_peer?, stream.ssrc?);
        if stream
            .last_pli
            .is_some_and(|t| now.saturating_duration_since(t) < PLI_EVERY)
        {
            return None;
        }
        stream.last_pli = Some(now);
        Some((local, peer, pli(ssrc)))
    }

    /// A datagram on local address `local`: the stream's mid and the packet to forward, or
    /// `None` for what is dropped (not RTP, another payload type, a stray RTCP packet).
    /// The payload is copied once, into a buffer every viewer shares.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        datagram: &[u8],
    ) -> Option<(Mid, Kept)> {
        let index = self
            .streams
            .iter()
            .position(|s| s.config.local == Some(local))?;
        let stream = &mut self.streams[index];
        let datagram = match &mut stream.srtp {
            Some(srtp) if !crate::rtp_leg::is_rtcp(datagram) => {
                stream.clear.clear();
                if srtp.unprotect_rtp(datagram, &mut stream.clear).is_err() {
                    stream.dropped += 1;
                    return None;
                }
                &stream.clear[..]
            }
            _ => datagram,
        };
        let header = match RtpHeader::parse(datagram, true) {
            Ok(h) if !crate::rtp_leg::is_rtcp(datagram) => h,
            _ => {
                stream.dropped += 1;
                return None;
            }
        };
        if stream.config.pt.is_some_and(|pt| pt != header.pt) {
            stream.dropped += 1;
            return None;
        }
        if stream.ssrc != Some(header.ssrc) {
            // A restarted sender: numbering starts over.
            stream.ssrc = Some(header.ssrc);
            stream.seq = SeqExtender::default();
            stream.keyframe.clear();
            stream.collecting = false;
            stream.latest_seq = 0;
        }
        let seq = stream.seq.extend(header.seq)?;
        let kept = Kept {
            ssrc: header.ssrc,
            seq,
            ts: header.ts,
            pt: header.pt,
            marker: header.marker,
            payload: Arc::from(&datagram[header.payload_start..header.payload_end]),
            at: now,
        };
        Some(self.arrived(index, now, kept))
    }

    /// A datagram on the local address of a data stream: its mid and whether it goes out
    /// as binary; `None` if `local` is no data stream's.
    pub(crate) fn data_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        datagram: &[u8],
    ) -> Option<(Mid, bool)> {
        let stream = self
            .streams
            .iter_mut()
            .find(|s| s.config.local == Some(local) && s.config.data.is_some())?;
        let mode = stream.config.data?;
        if mode.keep_last {
            stream.last_data.clear();
            stream.last_data.extend_from_slice(datagram);
        }
        if let Some(r) = stream.count(now, datagram.len()) {
            self.events.push(LegEvent::Source(r));
        }
        let mid = stream.config.mid;
        Some((mid, mode.binary))
    }

    /// The kept last message of data stream `mid`, and whether it is binary.
    pub(crate) fn last_data(&self, mid: Mid) -> Option<(bool, &[u8])> {
        let s = self.streams.iter().find(|s| s.config.mid == mid)?;
        let mode = s.config.data?;
        (!s.last_data.is_empty()).then_some((mode.binary, &s.last_data[..]))
    }

    /// The next payload of a file stream that is due at `now`, if any.
    pub(crate) fn next_due(&mut self, now: Instant) -> Option<(Mid, Kept)> {
        let index = self
            .streams
            .iter()
            .position(|s| s.playout.as_ref().is_some_and(|p| p.due <= now))?;
        let stream = &mut self.streams[index];
        let p = stream.playout.as_mut()?;
        let (payload, ticks) = p.file.frames[p.next].clone();
        let kept = Kept {
            ssrc: p.ssrc,
            seq: p.seq,
            ts: p.ts,
            pt: stream.config.pt.unwrap_or(0),
            marker: p.next == 0,
            payload,
            at: now,
        };
        p.seq += 1;
        p.ts = p.ts.wrapping_add(ticks);
        p.next = (p.next + 1) % p.file.frames.len();
        let clock = u64::from(p.file.clock_rate.max(1));
        p.due += Duration::from_micros(u64::from(ticks) * 1_000_000 / clock);
        // A shard that fell far behind skips ahead rather than bursting.
        if now.saturating_duration_since(p.due) > Duration::from_secs(1) {
            p.due = now;
        }
        Some(self.arrived(index, now, kept))
    }

    /// Counters, the key-frame buffer and reports for a packet of stream `index`.
    fn arrived(&mut self, index: usize, now: Instant, kept: Kept) -> (Mid, Kept) {
        let stream = &mut self.streams[index];
        if let Some(r) = stream.count(now, kept.payload.len()) {
            self.events.push(LegEvent::Source(r));
        }
        if kept.seq > stream.latest_seq {
            stream.latest_seq = kept.seq;
        }
        if let Some(codec) = stream.config.codec {
            if codec.starts_keyframe(&kept.payload) {
                stream.keyframe.clear();
                stream.collecting = true;
            } else if stream.keyframe.first().is_some_and(|k| k.ts != kept.ts) {
                stream.collecting = false;
            }
            if stream.collecting && stream.keyframe.len() < KEYFRAME_PACKETS {
                stream.keyframe.push(kept.clone());
            }
        }
        (stream.config.mid, kept)
    }

    /// The packets of the last key frame of `mid` (empty for audio, or before any),
    /// numbered as the packets just before the next live one, so that a new viewer's
    /// sequence has no gap (a gap would draw NACKs for packets it never needed).
    pub(crate) fn keyframe(&self, mid: Mid) -> impl Iterator<Item = Forward<'_>> + '_ {
        self.streams
            .iter()
            .filter(move |s| s.config.mid == mid)
            .flat_map(|s| {
                let count = s.keyframe.len() as u64;
                let first = s.latest_seq.saturating_add(1).saturating_sub(count);
                s.keyframe.iter().enumerate().map(move |(i, k)| Forward {
                    seq: first + i as u64,
                    ..k.forward(s.config.clock_rate)
                })
            })
    }

    /// The simulcast layer stream `mid` is, if it is one.
    pub(crate) fn rid_of(&self, mid: Mid) -> Option<Rid> {
        self.streams
            .iter()
            .find(|s| s.config.mid == mid)
            .and_then(|s| s.config.rid)
    }

    pub(crate) fn clock_of(&self, mid: Mid) -> u32 {
        self.streams
            .iter()
            .find(|s| s.config.mid == mid)
            .map_or(90_000, |s| s.config.clock_rate)
    }

    /// Streams that went silent stop receiving.
    pub fn handle_timeout(&mut self, now: Instant) {
        for stream in &mut self.streams {
            let silent = stream
                .last_packet
                .is_some_and(|t| now.saturating_duration_since(t) >= IDLE_AFTER);
            if stream.receiving && silent {
                stream.receiving = false;
                stream.next_report = None;
                self.events.push(LegEvent::Source(report(stream)));
            }
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        let idle = self
            .streams
            .iter()
            .filter(|s| s.receiving)
            .filter_map(|s| s.last_packet.map(|t| t + IDLE_AFTER));
        let due = self
            .streams
            .iter()
            .filter_map(|s| s.playout.as_ref().map(|p| p.due));
        idle.chain(due).min()
    }

    pub(crate) fn drain_events(&mut self, id: LegId, out: &mut Vec<MediaEvent>) {
        out.extend(
            self.events
                .drain(..)
                .map(|event| MediaEvent { leg: id, event }),
        );
    }
}

impl StreamIn {
    /// Counts a packet of `bytes` that arrived at `now`; returns the report that is due
    /// (the first packet after a silence, then one every [`REPORT_EVERY`]).
    fn count(&mut self, now: Instant, bytes: usize) -> Option<SourceReport> {
        self.packets += 1;
        self.bytes += bytes as u64;
        self.last_packet = Some(now);
        if !self.receiving {
            self.receiving = true;
            self.next_report = Some(now);
        }
        if self.next_report.is_some_and(|t| t <= now) {
            self.next_report = Some(now + REPORT_EVERY);
            return Some(report(self));
        }
        None
    }
}

/// At most one key-frame request a second to a source's sender.
const PLI_EVERY: Duration = Duration::from_secs(1);

/// An RTCP PLI (RFC 4585) for `media_ssrc`, from a fixed sender SSRC.
fn pli(media_ssrc: u32) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[0] = 0x81; // V=2, FMT=1 (PLI)
    p[1] = 206; // payload-specific feedback
    p[3] = 2; // length: 3 words - 1
    p[4..8].copy_from_slice(&0x4361_7264u32.to_be_bytes());
    p[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    p
}

fn report(stream: &StreamIn) -> SourceReport {
    SourceReport {
        mid: stream.config.mid.to_string(),
        kind: stream.config.kind,
        receiving: stream.receiving,
        last_packet: stream.last_packet,
        packets: stream.packets,
        bytes: stream.bytes,
        dropped: stream.dropped,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_is_paced_by_its_payloads_and_loops() {
        let file = MediaFile::parse("pcmu", &[0xff; 400]).unwrap();
        let stream = SourceStream {
            mid: Mid::from("a"),
            kind: MediaKind::Audio,
            local: None,
            file: Some(file),
            srtp: None,
            pt: Some(0),
            clock_rate: 8000,
            codec: None,
            data: None,
            rid: None,
            rtcp: None,
        };
        let t0 = Instant::now();
        let mut s = RtpSource::new(LegId(1), vec![stream], t0);
        let (_, first) = s.next_due(t0).unwrap();
        assert!(first.marker);
        assert!(s.next_due(t0).is_none(), "the next one is 20 ms later");
        assert_eq!(s.next_timeout(), Some(t0 + Duration::from_millis(20)));
        let (_, second) = s.next_due(t0 + Duration::from_millis(20)).unwrap();
        assert_eq!((second.seq, second.ts), (1, 160));
        let (_, third) = s.next_due(t0 + Duration::from_millis(40)).unwrap();
        assert_eq!(third.payload.len(), 80);
        let (_, again) = s.next_due(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!((again.seq, again.ts, again.payload.len()), (3, 400, 160));
    }

    use super::*;

    fn source() -> (RtpSource, SocketAddr, SocketAddr) {
        let a: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        let v: SocketAddr = "127.0.0.1:5004".parse().unwrap();
        let streams = vec![
            SourceStream {
                mid: Mid::from("a"),
                kind: MediaKind::Audio,
                local: Some(a),
                file: None,
                srtp: None,
                pt: Some(111),
                clock_rate: 48_000,
                codec: None,
                data: None,
                rid: None,
                rtcp: None,
            },
            SourceStream {
                mid: Mid::from("v"),
                kind: MediaKind::Video,
                local: Some(v),
                file: None,
                srtp: None,
                pt: Some(100),
                clock_rate: 90_000,
                codec: Some(VideoCodec::Vp8),
                data: None,
                rid: None,
                rtcp: None,
            },
        ];
        (RtpSource::new(LegId(1), streams, Instant::now()), a, v)
    }

    fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// VP8 payload descriptor S=1 PID=0, then a key frame (P bit clear) or a delta frame.
    const KEY: [u8; 4] = [0x10, 0x00, 0x9d, 0x01];
    const KEY_CONT: [u8; 3] = [0x00, 0x01, 0x02];
    const DELTA: [u8; 3] = [0x10, 0x01, 0x00];

    #[test]
    fn packets_of_the_configured_type_pass_others_and_garbage_are_counted() {
        let (mut s, a, _) = source();
        let now = Instant::now();
        let (mid, kept) = s.handle_datagram(now, a, &rtp(111, 1, 960, b"op")).unwrap();
        assert_eq!(mid, Mid::from("a"));
        assert_eq!(&kept.payload[..], b"op");
        assert!(s.handle_datagram(now, a, &rtp(0, 2, 960, b"x")).is_none());
        assert!(s.handle_datagram(now, a, b"\x00garbage").is_none());
        assert!(s.handle_datagram(now, a, &[]).is_none());
        let mut events = Vec::new();
        s.drain_events(LegId(1), &mut events);
        assert!(matches!(&events[0].event, LegEvent::Source(r) if r.receiving && r.packets == 1));
    }

    #[test]
    fn the_last_key_frame_is_kept_whole_and_replaced_by_the_next() {
        let (mut s, _, v) = source();
        let now = Instant::now();
        s.handle_datagram(now, v, &rtp(100, 1, 100, &DELTA));
        assert_eq!(s.keyframe(Mid::from("v")).count(), 0);
        s.handle_datagram(now, v, &rtp(100, 2, 200, &KEY));
        s.handle_datagram(now, v, &rtp(100, 3, 200, &KEY_CONT));
        s.handle_datagram(now, v, &rtp(100, 4, 300, &DELTA));
        let seqs: Vec<u64> = s.keyframe(Mid::from("v")).map(|f| f.seq).collect();
        assert_eq!(seqs, [3, 4], "renumbered to end at the latest packet, 4");
        s.handle_datagram(now, v, &rtp(100, 5, 400, &KEY));
        let seqs: Vec<u64> = s.keyframe(Mid::from("v")).map(|f| f.seq).collect();
        assert_eq!(seqs, [5]);
    }

    #[test]
    fn srtp_in_is_decrypted_and_what_fails_authentication_is_dropped() {
        use crate::rtp_leg::CryptoSuite;
        let key = SrtpKey::from_bytes(CryptoSuite::AesCm128HmacSha1_80, &[7; 30]).unwrap();
        let local: SocketAddr = "127.0.0.1:5006".parse().unwrap();
        let stream = SourceStream {
            mid: Mid::from("a"),
            kind: MediaKind::Audio,
            local: Some(local),
            file: None,
            srtp: Some(key.clone()),
            pt: Some(111),
            clock_rate: 48_000,
            codec: None,
            data: None,
            rid: None,
            rtcp: None,
        };
        let now = Instant::now();
        let mut s = RtpSource::new(LegId(1), vec![stream], now);
        let mut sender = SrtpSession::new(&key, &key).unwrap();
        let mut protected = Vec::new();
        sender
            .protect_rtp(&rtp(111, 1, 960, b"secret"), &mut protected)
            .unwrap();
        let (_, kept) = s.handle_datagram(now, local, &protected).unwrap();
        assert_eq!(&kept.payload[..], b"secret");
        assert!(s
            .handle_datagram(now, local, &rtp(111, 2, 1920, b"plain"))
            .is_none());
        let last = protected.len() - 1;
        protected[last] ^= 1;
        assert!(s.handle_datagram(now, local, &protected).is_none());
    }

    #[test]
    fn the_sender_that_sent_rtcp_is_asked_for_key_frames_once_a_second() {
        let (mut src, _audio, video) = source();
        let rtcp: SocketAddr = "127.0.0.1:5005".parse().unwrap();
        src.streams[1].config.rtcp = Some(rtcp);
        let t0 = Instant::now();
        let v = src.streams[1].config.mid;
        assert!(src.keyframe_request(v, t0).is_none(), "no sender known yet");
        let sender: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert!(src.rtcp_datagram(rtcp, sender));
        assert!(!src.rtcp_datagram(video, sender), "not an RTCP port");
        assert!(src.keyframe_request(v, t0).is_none(), "no SSRC seen yet");
        src.handle_datagram(t0, video, &rtp(100, 1, 0, &[0x10, 0, 0x9d, 1, 0x2a]))
            .unwrap();
        let (from, to, pli) = src.keyframe_request(v, t0).unwrap();
        assert_eq!((from, to), (rtcp, sender));
        assert_eq!(&pli[..4], &[0x81, 206, 0, 2]);
        assert!(src
            .keyframe_request(v, t0 + Duration::from_millis(500))
            .is_none());
        assert!(src
            .keyframe_request(v, t0 + Duration::from_secs(1))
            .is_some());
    }

    #[test]
    fn a_silent_stream_stops_receiving_after_a_second() {
        let (mut s, a, _) = source();
        let t0 = Instant::now();
        s.handle_datagram(t0, a, &rtp(111, 1, 960, b"op"));
        assert_eq!(s.next_timeout(), Some(t0 + IDLE_AFTER));
        s.handle_timeout(t0 + Duration::from_millis(500));
        s.handle_timeout(t0 + IDLE_AFTER);
        assert_eq!(s.next_timeout(), None);
        let mut events = Vec::new();
        s.drain_events(LegId(1), &mut events);
        assert!(matches!(&events.last().unwrap().event, LegEvent::Source(r) if !r.receiving));
    }
}
