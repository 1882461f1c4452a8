//! One m-line of a SIP call on the plain RTP side: its ports, latches, numbering, DTMF,
//! RTCP counters and SRTP. [`super::RtpLeg`] holds one per kind and routes by local address.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::dtmf::{DtmfReceiver, DtmfSender, TelephoneEvent};
use super::error::RtpLegError;
use super::latch::{Latch, LatchMode, Verdict};
use super::output::{InboundRtp, OutboundRtp, RtpLegEvent, TransmitQueue};
use super::packet::{write_header, RtpHeader};
use super::pt_map::PtMap;
use super::rtcp::{
    parse_compound, round_trip, write_pli, write_report, ReceiveCounters, ReportBlock, ReportInput,
    SendCounters, SenderInfo,
};
use super::seq_rewriter::{ticks, SeqRewriter};
use super::srtp::{random_u32, SrtpTransform};
use crate::MediaKind;

/// The least time between two key-frame requests (PLI) to the SIP peer.
const PLI_EVERY: Duration = Duration::from_millis(500);

/// How one stream of the leg is set up, from the local allocation and the peer's SDP.
#[derive(Debug, Clone)]
pub struct RtpStreamConfig {
    pub kind: MediaKind,
    /// The caller's socket for RTP (and RTCP when muxed).
    pub local_rtp: SocketAddr,
    /// The caller's socket for RTCP; `None` when the peer accepted `a=rtcp-mux` (RFC 5761).
    pub local_rtcp: Option<SocketAddr>,
    /// From the peer's c= and m= lines; `None` until known.
    pub remote_rtp: Option<SocketAddr>,
    /// From the peer's `a=rtcp` (RFC 3605); `None` means RTP port + 1. Unused when muxed.
    pub remote_rtcp: Option<SocketAddr>,
    pub pt_map: PtMap,
    /// Clock of the stream's codec (8000 for G.711, 48000 for opus, 90000 for video).
    pub clock_rate: u32,
    /// The SIP side's telephone-event payload type (RFC 4733 §7.1.1), same clock as audio.
    pub telephone_event: Option<u8>,
    /// Our SSRC and where our numbering starts (random by [`RtpStreamConfig::new`]).
    pub ssrc: u32,
    pub initial_seq: u16,
    pub initial_ts: u32,
}

impl RtpStreamConfig {
    /// A stream with a random SSRC, initial sequence number and timestamp (RFC 3550 §5.1),
    /// muxed RTCP and no telephone-event; set the other fields as the SDP says.
    pub fn new(kind: MediaKind, local_rtp: SocketAddr, pt_map: PtMap, clock_rate: u32) -> Self {
        Self {
            kind,
            local_rtp,
            local_rtcp: None,
            remote_rtp: None,
            remote_rtcp: None,
            pt_map,
            clock_rate,
            telephone_event: None,
            ssrc: random_u32(),
            initial_seq: random_u32() as u16,
            initial_ts: random_u32(),
        }
    }
}

/// Counters of one stream, for the Admin API and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtpStreamStats {
    pub ssrc: u32,
    pub remote_ssrc: Option<u32>,
    pub destination: Option<SocketAddr>,
    pub latched: Option<SocketAddr>,
    pub packets_sent: u32,
    pub octets_sent: u32,
    pub packets_received: u64,
    pub octets_received: u64,
    /// Packets dropped because they came from elsewhere than the latched source.
    pub foreign_dropped: u64,
    /// Packets that failed SRTP authentication.
    pub unprotect_failed: u64,
    /// What the peer last reported about our stream.
    pub remote_report: Option<ReportBlock>,
    pub remote_sender: Option<SenderInfo>,
    pub rtt: Option<Duration>,
}

pub(crate) struct RtpStream {
    pub config: RtpStreamConfig,
    rtp_latch: Latch,
    rtcp_latch: Latch,
    to_sip: SeqRewriter,
    to_webrtc: SeqRewriter,
    dtmf_rx: DtmfReceiver,
    dtmf_tx: DtmfSender,
    sent: SendCounters,
    received: ReceiveCounters,
    pub srtp: Option<Box<dyn SrtpTransform>>,
    receiving: bool,
    last_rx: Option<Instant>,
    next_report: Instant,
    /// When we last asked the peer for a key frame (PLI).
    last_pli: Option<Instant>,
    stats: RtpStreamStats,
}

/// Everything a stream writes into, owned by the leg and reused across packets.
pub(crate) struct Sink<'a> {
    pub transmits: &'a mut TransmitQueue,
    pub events: &'a mut VecDeque<RtpLegEvent>,
    pub scratch: &'a mut Vec<u8>,
}

/// Settings shared by the streams of a leg.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub no_media_timeout: Duration,
    pub report_interval: Duration,
    pub cname: &'a str,
    pub epoch: Instant,
    /// Wall-clock time since the Unix epoch at `epoch`, for NTP timestamps.
    pub wall_at_epoch: Duration,
}

impl Shared<'_> {
    fn ntp(&self, now: Instant) -> u64 {
        super::rtcp::ntp_from_unix(self.wall_at_epoch + now.saturating_duration_since(self.epoch))
    }
}

impl RtpStream {
    pub fn new(
        config: RtpStreamConfig,
        latch: LatchMode,
        now: Instant,
        first_report: Duration,
    ) -> Self {
        let mut s = Self {
            rtp_latch: Latch::new(latch, None),
            rtcp_latch: Latch::new(latch, None),
            to_sip: SeqRewriter::new(config.clock_rate, config.initial_seq, config.initial_ts),
            to_webrtc: SeqRewriter::new(config.clock_rate, random_u32() as u16, random_u32()),
            dtmf_rx: DtmfReceiver::default(),
            dtmf_tx: DtmfSender::default(),
            sent: SendCounters::default(),
            received: ReceiveCounters::default(),
            srtp: None,
            receiving: false,
            last_rx: None,
            next_report: now + first_report,
            last_pli: None,
            stats: RtpStreamStats {
                ssrc: config.ssrc,
                ..Default::default()
            },
            config,
        };
        s.set_remote(s.config.remote_rtp, s.config.remote_rtcp);
        s
    }

    pub fn muxed(&self) -> bool {
        self.config.local_rtcp.is_none()
    }

    /// The peer's SDP addresses (initial or from a re-INVITE); see [`Latch::set_signalled`].
    pub fn set_remote(&mut self, rtp: Option<SocketAddr>, rtcp: Option<SocketAddr>) {
        let rtcp = rtcp.or_else(|| {
            rtp.map(|mut a| {
                a.set_port(a.port().wrapping_add(1));
                a
            })
        });
        self.config.remote_rtp = rtp;
        self.config.remote_rtcp = rtcp;
        self.rtp_latch.set_signalled(rtp);
        self.rtcp_latch.set_signalled(rtcp);
    }

    /// The next packet toward the SIP peer starts a new input (see [`SeqRewriter::restart`]).
    pub fn restart_to_sip(&mut self) {
        self.to_sip.restart();
    }

    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.config.clock_rate = clock_rate;
        self.to_sip.set_clock_rate(clock_rate);
        self.to_webrtc.set_clock_rate(clock_rate);
    }

    fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.muxed() {
            return self.rtp_latch.destination();
        }
        // An RTCP latch wins; else follow the RTP latch to its port + 1 (the peer's NAT
        // likely maps both alike); else the SDP.
        self.rtcp_latch.latched().or_else(|| {
            self.rtp_latch
                .latched()
                .map(|mut a| {
                    a.set_port(a.port().wrapping_add(1));
                    a
                })
                .or(self.rtcp_latch.destination())
        })
    }

    /// An RTP datagram (already known to be for this stream's RTP component).
    pub fn receive_rtp<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &'a [u8],
        plain: &'a mut Vec<u8>,
        shared: &Shared<'_>,
        events: &mut VecDeque<RtpLegEvent>,
    ) -> Result<InboundRtp<'a>, RtpLegError> {
        let outer = RtpHeader::parse(datagram, self.srtp.is_none())?;
        let verdict = self.rtp_latch.check(source, outer.ssrc);
        if verdict == Verdict::Reject {
            self.stats.foreign_dropped += 1;
            return Err(RtpLegError::ForeignSource(source));
        }
        let packet: &'a [u8] = match self.srtp.as_mut() {
            Some(srtp) => {
                plain.clear();
                if let Err(e) = srtp.unprotect_rtp(datagram, plain) {
                    self.stats.unprotect_failed += 1;
                    return Err(e);
                }
                let plain: &'a Vec<u8> = plain;
                plain
            }
            None => datagram,
        };
        let h = if self.srtp.is_some() {
            RtpHeader::parse(packet, true)?
        } else {
            outer
        };
        let kind = self.config.kind;
        if verdict == Verdict::Latch {
            if let Some(addr) = self.rtp_latch.commit(source, h.ssrc) {
                events.push_back(RtpLegEvent::Latched {
                    kind,
                    addr,
                    rtcp: false,
                });
            }
        }
        let payload = &packet[h.payload_start..h.payload_end];
        let arrival = ticks(
            now.saturating_duration_since(shared.epoch),
            self.config.clock_rate,
        );
        self.received
            .on_rtp(h.ssrc, h.seq, h.ts, payload.len(), arrival);
        self.stats.remote_ssrc = Some(h.ssrc);
        self.stats.packets_received += 1;
        self.stats.octets_received += payload.len() as u64;
        self.last_rx = Some(now);
        if !self.receiving {
            self.receiving = true;
            events.push_back(RtpLegEvent::Receiving {
                kind,
                receiving: true,
            });
        }
        if self.config.telephone_event == Some(h.pt) {
            let event = TelephoneEvent::parse(payload)?;
            if let Some(r) = self.dtmf_rx.on_packet(h.ts, &event, self.config.clock_rate) {
                events.push_back(RtpLegEvent::Dtmf {
                    digit: r.digit,
                    duration: r.duration,
                    end: r.end,
                });
            }
        }
        let pt = self
            .config
            .pt_map
            .to_webrtc(h.pt)
            .ok_or(RtpLegError::UnmappedPayloadType(h.pt))?;
        let out = self.to_webrtc.rewrite(now, h.ssrc, h.seq, h.ts);
        Ok(InboundRtp {
            kind,
            pt,
            seq: out.seq,
            ts: out.ts,
            marker: h.marker || (out.restarted && kind == MediaKind::Audio),
            payload,
        })
    }

    /// An RTCP datagram for this stream (its RTCP port, or demuxed from the RTP port);
    /// `true` if the peer asks for a key frame of this (video) stream, with a PLI or FIR.
    pub fn receive_rtcp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
        plain: &mut Vec<u8>,
        shared: &Shared<'_>,
        events: &mut VecDeque<RtpLegEvent>,
    ) -> Result<bool, RtpLegError> {
        // The sender SSRC stays in the clear under SRTCP (RFC 3711 §3.4).
        let ssrc = match datagram.get(4..8) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => return Err(super::error::PacketError::TooShort(datagram.len()).into()),
        };
        let muxed = self.muxed();
        let latch = if muxed {
            &self.rtp_latch
        } else {
            &self.rtcp_latch
        };
        let verdict = latch.check(source, ssrc);
        if verdict == Verdict::Reject {
            self.stats.foreign_dropped += 1;
            return Err(RtpLegError::ForeignSource(source));
        }
        let packet: &[u8] = match self.srtp.as_mut() {
            Some(srtp) => {
                plain.clear();
                if let Err(e) = srtp.unprotect_rtcp(datagram, plain) {
                    self.stats.unprotect_failed += 1;
                    return Err(e);
                }
                plain
            }
            None => datagram,
        };
        let summary = parse_compound(packet, self.config.ssrc)?;
        // A muxed RTCP packet never moves the RTP latch: RTP decides where media goes.
        if verdict == Verdict::Latch && !muxed {
            if let Some(addr) = self.rtcp_latch.commit(source, ssrc) {
                events.push_back(RtpLegEvent::Latched {
                    kind: self.config.kind,
                    addr,
                    rtcp: true,
                });
            }
        }
        if let Some(info) = summary.sender_info {
            self.received.on_sender_report(info.ntp, now);
            self.stats.remote_sender = Some(info);
        }
        if let Some(block) = summary.about_us {
            self.stats.remote_report = Some(block);
            if let Some(rtt) = round_trip(&block, shared.ntp(now)) {
                self.stats.rtt = Some(rtt);
            }
        }
        if summary.bye {
            events.push_back(RtpLegEvent::Bye {
                kind: self.config.kind,
            });
        }
        Ok(summary.keyframe_for.is_some() && self.config.kind == MediaKind::Video)
    }

    /// Forwards a packet from the WebRTC side.
    pub fn send(
        &mut self,
        now: Instant,
        pkt: &OutboundRtp<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<(), RtpLegError> {
        let pt = self
            .config
            .pt_map
            .to_sip(pkt.pt)
            .ok_or(RtpLegError::UnmappedPayloadType(pkt.pt))?;
        let is_event = self.config.telephone_event == Some(pt);
        if self.dtmf_tx.is_sending() && !is_event {
            // A generated key press owns the stream until its end packets are out.
            return Ok(());
        }
        let destination = self.rtp_latch.destination().ok_or(RtpLegError::NoRemote)?;
        let out = self.to_sip.rewrite(now, pkt.ssrc, pkt.seq, pkt.ts);
        let marker = pkt.marker || (out.restarted && self.config.kind == MediaKind::Audio);
        self.emit(destination, marker, pt, out.seq, out.ts, pkt.payload, sink)
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        destination: SocketAddr,
        marker: bool,
        pt: u8,
        seq: u16,
        ts: u32,
        payload: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<(), RtpLegError> {
        let ssrc = self.config.ssrc;
        let source = self.config.local_rtp;
        match self.srtp.as_mut() {
            Some(srtp) => {
                let scratch = &mut *sink.scratch;
                scratch.clear();
                write_header(scratch, marker, pt, seq, ts, ssrc);
                scratch.extend_from_slice(payload);
                sink.transmits
                    .push_with(source, destination, |buf| srtp.protect_rtp(scratch, buf))?;
            }
            None => sink
                .transmits
                .push_with::<RtpLegError>(source, destination, |buf| {
                    write_header(buf, marker, pt, seq, ts, ssrc);
                    buf.extend_from_slice(payload);
                    Ok(())
                })?,
        }
        self.sent.on_sent(payload.len());
        Ok(())
    }

    pub fn start_dtmf(
        &mut self,
        now: Instant,
        digit: char,
        duration: Duration,
    ) -> Result<(), RtpLegError> {
        if self.config.telephone_event.is_none() {
            return Err(super::error::DtmfError::NotNegotiated.into());
        }
        if self.dtmf_tx.is_sending() {
            return Err(super::error::DtmfError::Busy.into());
        }
        super::dtmf::event_of(digit)?;
        let ts = self.to_sip.begin_local(now);
        self.dtmf_tx
            .start(now, digit, duration, ts, self.config.clock_rate)?;
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Instant, shared: &Shared<'_>, sink: &mut Sink<'_>) {
        while let Some(p) = self.dtmf_tx.poll(now) {
            let (Some(pt), Some(destination)) =
                (self.config.telephone_event, self.rtp_latch.destination())
            else {
                continue;
            };
            let seq = self.to_sip.next_local_seq(now);
            let payload = p.event.to_bytes();
            if let Err(e) = self.emit(destination, p.marker, pt, seq, p.ts, &payload, sink) {
                tracing::debug!("DTMF packet not sent: {e}");
            }
        }
        if let Some(last) = self.last_rx {
            if self.receiving && now >= last + shared.no_media_timeout {
                self.receiving = false;
                sink.events.push_back(RtpLegEvent::Receiving {
                    kind: self.config.kind,
                    receiving: false,
                });
            }
        }
        if now >= self.next_report {
            self.next_report = now + shared.report_interval;
            self.send_report(now, shared, sink);
        }
    }

    /// Asks the peer for a key frame: a PLI (RFC 4585) after our report, as a compound
    /// RTCP packet must begin (RFC 3550 §6.1). Not before the peer has sent (its SSRC is
    /// the PLI's target), and at most one in [`PLI_EVERY`].
    pub fn request_keyframe(&mut self, now: Instant, shared: &Shared<'_>, sink: &mut Sink<'_>) {
        let Some(media) = self.stats.remote_ssrc else {
            return;
        };
        if self.last_pli.is_some_and(|t| now < t + PLI_EVERY) {
            return;
        }
        self.last_pli = Some(now);
        self.send_rtcp(now, shared, sink, Some(media));
    }

    /// Our SR (if we sent since the last report) or RR, RFC 3550 §6.4.
    fn send_report(&mut self, now: Instant, shared: &Shared<'_>, sink: &mut Sink<'_>) {
        self.send_rtcp(now, shared, sink, None);
    }

    /// A report, with a PLI for `pli` (the peer's SSRC) after it.
    fn send_rtcp(
        &mut self,
        now: Instant,
        shared: &Shared<'_>,
        sink: &mut Sink<'_>,
        pli: Option<u32>,
    ) {
        let Some(destination) = self.rtcp_destination() else {
            return;
        };
        let block = self.received.report_block(now);
        let sent = self.sent.sent_since_report.then_some(self.sent);
        if sent.is_none() && block.is_none() && pli.is_none() {
            return;
        }
        self.sent.sent_since_report = false;
        let report = ReportInput {
            ssrc: self.config.ssrc,
            ntp: shared.ntp(now),
            rtp_ts: self.to_sip.ts_at(now),
            sent,
            block,
            cname: shared.cname,
        };
        let source = self.config.local_rtcp.unwrap_or(self.config.local_rtp);
        let result = match self.srtp.as_mut() {
            Some(srtp) => {
                let scratch = &mut *sink.scratch;
                scratch.clear();
                write_report(scratch, &report);
                if let Some(media) = pli {
                    write_pli(scratch, report.ssrc, media);
                }
                sink.transmits
                    .push_with(source, destination, |buf| srtp.protect_rtcp(scratch, buf))
            }
            None => sink
                .transmits
                .push_with::<RtpLegError>(source, destination, |buf| {
                    write_report(buf, &report);
                    if let Some(media) = pli {
                        write_pli(buf, report.ssrc, media);
                    }
                    Ok(())
                }),
        };
        if let Err(e) = result {
            tracing::debug!("RTCP report not sent: {e}");
        }
    }

    pub fn next_timeout(&self, shared: &Shared<'_>) -> Instant {
        let mut t = self.next_report;
        if let Some(d) = self.dtmf_tx.next_timeout() {
            t = t.min(d);
        }
        if let (true, Some(last)) = (self.receiving, self.last_rx) {
            t = t.min(last + shared.no_media_timeout);
        }
        t
    }

    pub fn stats(&self) -> RtpStreamStats {
        RtpStreamStats {
            destination: self.rtp_latch.destination(),
            latched: self.rtp_latch.latched(),
            packets_sent: self.sent.packets,
            octets_sent: self.sent.octets,
            ..self.stats.clone()
        }
    }
}
