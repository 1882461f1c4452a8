//! The plain RTP leg driven like the shard will drive it: datagrams and `now` in, datagrams
//! and events out, on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cardea_media::rtp_leg::{
    parse_compound, write_header, CryptoSuite, LatchMode, OutboundRtp, PtMap, RtpHeader, RtpLeg,
    RtpLegConfig, RtpLegError, RtpLegEvent, RtpStreamConfig, SrtpKey, SrtpSession, TelephoneEvent,
};
use cardea_media::{LegId, MediaKind};

const MS20: Duration = Duration::from_millis(20);
const OPUS: u8 = 111;
const SIP_OPUS: u8 = 96;
const TE: u8 = 126;
const SIP_TE: u8 = 101;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn local() -> SocketAddr {
    addr("192.0.2.1:20000")
}
fn sdp_remote() -> SocketAddr {
    addr("10.0.0.5:4000")
}
fn nat_source() -> SocketAddr {
    addr("203.0.113.9:31000")
}

fn stream(local: SocketAddr, remote: SocketAddr) -> RtpStreamConfig {
    let map = PtMap::new(&[(OPUS, SIP_OPUS), (0, 0), (TE, SIP_TE)]).unwrap();
    let mut s = RtpStreamConfig::new(MediaKind::Audio, local, map, 8000);
    s.remote_rtp = Some(remote);
    s.telephone_event = Some(SIP_TE);
    s.ssrc = 0x5151_0001;
    s.initial_seq = 1000;
    s.initial_ts = 50_000;
    s
}

fn leg_with(latch: LatchMode, now: Instant) -> RtpLeg {
    let config = RtpLegConfig {
        latch,
        ..Default::default()
    };
    RtpLeg::new(LegId(1), config, vec![stream(local(), sdp_remote())], now)
}

fn leg(now: Instant) -> RtpLeg {
    leg_with(LatchMode::default(), now)
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(&mut b, marker, pt, seq, ts, ssrc);
    b.extend_from_slice(payload);
    b
}

fn out<'a>(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: &'a [u8]) -> OutboundRtp<'a> {
    OutboundRtp {
        pt,
        ssrc,
        seq,
        ts,
        marker: false,
        payload,
    }
}

fn sent(leg: &mut RtpLeg) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let mut v = Vec::new();
    leg.drain_transmits(&mut v);
    v
}

fn events(leg: &mut RtpLeg) -> Vec<RtpLegEvent> {
    std::iter::from_fn(|| leg.poll_event()).collect()
}

#[test]
fn latches_to_the_real_source_port() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    l.write_rtp(t0, MediaKind::Audio, &out(OPUS, 1, 1, 0, b"a"))
        .unwrap();
    assert_eq!(
        sent(&mut l)[0].1,
        sdp_remote(),
        "the SDP address until latched"
    );

    let pkt = rtp(SIP_OPUS, 7, 0, 0xabc, false, b"x");
    l.handle_datagram(t0, nat_source(), local(), &pkt).unwrap();
    let ev = events(&mut l);
    assert!(ev.contains(&RtpLegEvent::Latched {
        kind: MediaKind::Audio,
        addr: nat_source(),
        rtcp: false
    }));
    assert!(ev.contains(&RtpLegEvent::Receiving {
        kind: MediaKind::Audio,
        receiving: true
    }));
    l.write_rtp(t0 + MS20, MediaKind::Audio, &out(OPUS, 1, 2, 960, b"a"))
        .unwrap();
    let s = sent(&mut l);
    assert_eq!((s[0].0, s[0].1), (local(), nat_source()));
    assert_eq!(
        l.stats(MediaKind::Audio).unwrap().latched,
        Some(nat_source())
    );
}

#[test]
fn ignores_foreign_sources_after_latching() {
    let t0 = Instant::now();
    for mode in [LatchMode::Strict, LatchMode::FollowSsrc] {
        let mut l = leg_with(mode, t0);
        l.handle_datagram(t0, nat_source(), local(), &rtp(0, 1, 0, 0xabc, false, b"x"))
            .unwrap();
        let intruder = addr("198.51.100.66:5004");
        let r = l
            .handle_datagram(t0, intruder, local(), &rtp(0, 2, 160, 0xbad, false, b"y"))
            .map(|_| ());
        assert_eq!(r, Err(RtpLegError::ForeignSource(intruder)));
        // The latched SSRC from a new port: a NAT rebinding, followed only if allowed.
        let rebound = addr("203.0.113.9:31002");
        let r = l
            .handle_datagram(t0, rebound, local(), &rtp(0, 3, 320, 0xabc, false, b"z"))
            .is_ok();
        assert_eq!(r, mode == LatchMode::FollowSsrc, "{mode:?}");
        let stats = l.stats(MediaKind::Audio).unwrap();
        assert_eq!(
            stats.foreign_dropped,
            if mode == LatchMode::Strict { 2 } else { 1 }
        );
    }

    // A re-INVITE to a new address unlatches: the next packet from anywhere latches.
    let mut l = leg_with(LatchMode::Strict, t0);
    l.handle_datagram(t0, nat_source(), local(), &rtp(0, 1, 0, 0xabc, false, b"x"))
        .unwrap();
    l.set_remote(MediaKind::Audio, Some(addr("10.0.0.7:4100")), None)
        .unwrap();
    let moved = addr("198.51.100.7:6000");
    l.handle_datagram(t0, moved, local(), &rtp(0, 1, 0, 0xdef, false, b"x"))
        .unwrap();
    assert_eq!(l.stats(MediaKind::Audio).unwrap().latched, Some(moved));
}

#[test]
fn pt_map_rewrites_both_ways() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    l.write_rtp(t0, MediaKind::Audio, &out(OPUS, 1, 1, 0, b"opus"))
        .unwrap();
    let s = sent(&mut l);
    let h = RtpHeader::parse(&s[0].2, true).unwrap();
    assert_eq!(h.pt, SIP_OPUS);
    assert_eq!(&s[0].2[h.payload_start..], b"opus");

    let pkt = rtp(SIP_OPUS, 40, 1234, 0xabc, true, b"back");
    let inbound = l
        .handle_datagram(t0, nat_source(), local(), &pkt)
        .unwrap()
        .unwrap();
    assert_eq!(
        (inbound.pt, inbound.payload, inbound.marker),
        (OPUS, &b"back"[..], true)
    );

    let pcma = rtp(8, 41, 1394, 0xabc, false, b"g711a");
    assert_eq!(
        l.handle_datagram(t0, nat_source(), local(), &pcma)
            .map(|_| ()),
        Err(RtpLegError::UnmappedPayloadType(8))
    );
    assert_eq!(
        l.write_rtp(t0, MediaKind::Audio, &out(9, 1, 2, 960, b"g722")),
        Err(RtpLegError::UnmappedPayloadType(9))
    );
}

#[test]
fn seq_and_timestamp_stay_continuous_across_ssrc_change() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    let mut now = t0;
    for i in 0..5u16 {
        l.write_rtp(
            now,
            MediaKind::Audio,
            &out(0, 0xaaaa, 100 + i, 3000 + 160 * u32::from(i), b"p"),
        )
        .unwrap();
        now += MS20;
    }
    // The browser's source switched (renegotiation, another publisher): new SSRC, seq, ts.
    l.write_rtp(now, MediaKind::Audio, &out(0, 0xbbbb, 9000, 777, b"q"))
        .unwrap();
    l.write_rtp(
        now + MS20,
        MediaKind::Audio,
        &out(0, 0xbbbb, 9001, 937, b"q"),
    )
    .unwrap();
    let headers: Vec<RtpHeader> = sent(&mut l)
        .iter()
        .map(|(_, _, b)| RtpHeader::parse(b, true).unwrap())
        .collect();
    assert!(
        headers.iter().all(|h| h.ssrc == 0x5151_0001),
        "one SSRC toward SIP"
    );
    for (i, h) in headers.iter().enumerate() {
        assert_eq!(h.seq, 1000 + i as u16, "seq continuous");
        assert_eq!(h.ts, 50_000 + 160 * i as u32, "ts follows the wall clock");
    }
    assert!(headers[0].marker && headers[5].marker && !headers[6].marker);
}

/// A new offer/answer re-anchors what goes toward SIP: a source that comes back under the
/// same SSRC with its numbering started over (an AudioBridge participant moved from one
/// mixer to another) must not step back.
#[test]
fn a_new_pt_map_reanchors_a_source_that_restarts_under_the_same_ssrc() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    let mut now = t0;
    for i in 0..5u16 {
        l.write_rtp(
            now,
            MediaKind::Audio,
            &out(0, 0xaaaa, 200 + i, 32_000 + 160 * u32::from(i), b"p"),
        )
        .unwrap();
        now += MS20;
    }
    let map = PtMap::new(&[(0, 0)]).unwrap();
    l.set_pt_map(MediaKind::Audio, map, Some(SIP_TE), 8000)
        .unwrap();
    for i in 0..2u16 {
        l.write_rtp(
            now,
            MediaKind::Audio,
            &out(0, 0xaaaa, i, 160 * u32::from(i), b"q"),
        )
        .unwrap();
        now += MS20;
    }
    let headers: Vec<RtpHeader> = sent(&mut l)
        .iter()
        .map(|(_, _, b)| RtpHeader::parse(b, true).unwrap())
        .collect();
    for (i, h) in headers.iter().enumerate() {
        assert_eq!(h.seq, 1000 + i as u16, "seq continuous");
        assert_eq!(h.ts, 50_000 + 160 * i as u32, "ts follows the wall clock");
    }
    assert!(headers[5].marker, "the new source starts a talkspurt");
}

#[test]
fn dtmf_end_retransmissions_report_one_digit() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    let ev = |duration, end| TelephoneEvent {
        event: 5,
        end,
        volume: 10,
        duration,
    };
    let mut seq = 1;
    let mut feed = |l: &mut RtpLeg, e: TelephoneEvent, marker| {
        let pkt = rtp(SIP_TE, seq, 8000, 0xabc, marker, &e.to_bytes());
        seq += 1;
        let inbound = l
            .handle_datagram(t0, nat_source(), local(), &pkt)
            .unwrap()
            .unwrap();
        assert_eq!(inbound.pt, TE, "relayed to the browser too");
    };
    feed(&mut l, ev(160, false), true);
    feed(&mut l, ev(320, false), false);
    feed(&mut l, ev(480, false), false);
    for _ in 0..3 {
        feed(&mut l, ev(800, true), false);
    }
    let dtmf: Vec<RtpLegEvent> = events(&mut l)
        .into_iter()
        .filter(|e| matches!(e, RtpLegEvent::Dtmf { .. }))
        .collect();
    assert_eq!(
        dtmf,
        vec![
            RtpLegEvent::Dtmf {
                digit: '5',
                duration: Duration::from_millis(20),
                end: false
            },
            RtpLegEvent::Dtmf {
                digit: '5',
                duration: Duration::from_millis(100),
                end: true
            },
        ]
    );
}

#[test]
fn generated_dtmf_matches_rfc4733() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    l.write_rtp(t0, MediaKind::Audio, &out(0, 1, 1, 0, b"voice"))
        .unwrap();
    sent(&mut l);
    let start = t0 + MS20;
    l.send_dtmf(start, '#', Duration::from_millis(100)).unwrap();
    let mut packets = sent(&mut l);
    let mut now = start;
    for _ in 0..20 {
        now += MS20;
        // Audio from the browser meanwhile is held back, not interleaved.
        l.write_rtp(now, MediaKind::Audio, &out(0, 1, 2, 160, b"voice"))
            .unwrap();
        l.handle_timeout(now);
        packets.extend(sent(&mut l));
    }
    let dtmf: Vec<(RtpHeader, TelephoneEvent)> = packets
        .iter()
        .map(|(_, _, b)| RtpHeader::parse(b, true).unwrap())
        .take_while(|h| h.pt == SIP_TE)
        .zip(packets.iter())
        .map(|(h, (_, _, b))| (h, TelephoneEvent::parse(&b[h.payload_start..]).unwrap()))
        .collect();
    assert_eq!(
        dtmf.len(),
        5 + 3,
        "100 ms in 20 ms steps, then three end packets"
    );
    let ts = dtmf[0].0.ts;
    assert_eq!(
        ts,
        50_000 + 160,
        "the event starts where the stream's clock is"
    );
    for (i, (h, e)) in dtmf.iter().enumerate() {
        assert_eq!(h.ts, ts, "one timestamp for the whole event");
        assert_eq!(h.marker, i == 0, "marker on the first packet only");
        assert_eq!(h.seq, 1001 + i as u16);
        assert_eq!(e.event, 11);
        let end = i >= 5;
        assert_eq!(e.end, end);
        let want = if end { 800 } else { 160 * (i as u16 + 1) };
        assert_eq!(e.duration, want);
    }
    // Audio resumes after the event, continuous and later than it.
    let after = RtpHeader::parse(&packets[dtmf.len()].2, true).unwrap();
    assert_eq!(after.pt, 0);
    assert_eq!(after.seq, 1001 + 8);
    assert!(after.ts.wrapping_sub(ts) >= 800);
    assert!(l.send_dtmf(now, 'x', Duration::from_millis(100)).is_err());
}

fn srtp_pair(suite: CryptoSuite, wrong: bool) -> (RtpLeg, RtpLeg, Instant) {
    let t0 = Instant::now();
    let a_addr = addr("192.0.2.1:20000");
    let b_addr = addr("192.0.2.2:30000");
    let mut a = RtpLeg::new(
        LegId(1),
        RtpLegConfig::default(),
        vec![stream(a_addr, b_addr)],
        t0,
    );
    let mut b = RtpLeg::new(
        LegId(2),
        RtpLegConfig::default(),
        vec![stream(b_addr, a_addr)],
        t0,
    );
    let ka = SrtpKey::generate(suite).unwrap();
    let kb = SrtpKey::generate(suite).unwrap();
    let kb_seen_by_a = if wrong {
        SrtpKey::generate(suite).unwrap()
    } else {
        kb.clone()
    };
    let ka_seen_by_b = if wrong {
        SrtpKey::generate(suite).unwrap()
    } else {
        ka.clone()
    };
    a.set_srtp(
        MediaKind::Audio,
        Some(Box::new(SrtpSession::new(&ka, &kb_seen_by_a).unwrap())),
    )
    .unwrap();
    b.set_srtp(
        MediaKind::Audio,
        Some(Box::new(SrtpSession::new(&kb, &ka_seen_by_b).unwrap())),
    )
    .unwrap();
    (a, b, t0)
}

#[test]
fn srtp_roundtrip_with_matching_key() {
    for suite in CryptoSuite::ALL {
        let (mut a, mut b, t0) = srtp_pair(suite, false);
        for i in 0..3u16 {
            let now = t0 + MS20 * u32::from(i);
            a.write_rtp(
                now,
                MediaKind::Audio,
                &out(OPUS, 9, i, 960 * u32::from(i), b"secret voice"),
            )
            .unwrap();
            let (src, dst, wire) = sent(&mut a).remove(0);
            assert!(
                !wire.windows(6).any(|w| w == b"secret"),
                "{suite:?} encrypts"
            );
            let inbound = b.handle_datagram(now, src, dst, &wire).unwrap().unwrap();
            assert_eq!(
                (inbound.pt, inbound.payload),
                (OPUS, &b"secret voice"[..]),
                "{suite:?}"
            );
        }
        // SRTCP both ways too.
        b.write_rtp(t0, MediaKind::Audio, &out(OPUS, 9, 0, 0, b"reply"))
            .unwrap();
        for (src, dst, wire) in sent(&mut b) {
            a.handle_datagram(t0, src, dst, &wire).unwrap();
        }
        let later = t0 + Duration::from_secs(3);
        b.handle_timeout(later);
        for (src, dst, wire) in sent(&mut b) {
            assert_eq!(
                a.handle_datagram(later, src, dst, &wire),
                Ok(None),
                "{suite:?} SRTCP"
            );
        }
        assert_eq!(
            a.stats(MediaKind::Audio)
                .unwrap()
                .remote_report
                .unwrap()
                .extended_highest_seq
                % 65_536,
            u32::from(1000u16 + 2)
        );
    }
}

#[test]
fn srtp_rejects_wrong_key() {
    for suite in CryptoSuite::ALL {
        let (mut a, mut b, t0) = srtp_pair(suite, true);
        a.write_rtp(t0, MediaKind::Audio, &out(OPUS, 9, 0, 0, b"secret voice"))
            .unwrap();
        let (src, dst, wire) = sent(&mut a).remove(0);
        assert_eq!(
            b.handle_datagram(t0, src, dst, &wire).map(|_| ()),
            Err(RtpLegError::Unprotect),
            "{suite:?}"
        );
        let stats = b.stats(MediaKind::Audio).unwrap();
        assert_eq!(stats.latched, None, "a forged packet never moves the latch");
        assert_eq!(stats.unprotect_failed, 1);
        assert!(events(&mut b).is_empty());
    }
}

#[test]
fn rtcp_sr_counts_sent_packets() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    for i in 0..10u16 {
        let now = t0 + MS20 * u32::from(i);
        l.write_rtp(
            now,
            MediaKind::Audio,
            &out(0, 1, i, 160 * u32::from(i), &[0xff; 160]),
        )
        .unwrap();
    }
    l.handle_datagram(
        t0,
        nat_source(),
        local(),
        &rtp(0, 500, 0, 0xabc, false, &[0; 160]),
    )
    .unwrap();
    sent(&mut l);
    // The first report is due half an interval in (RFC 3550 §6.2), within 5 s.
    l.handle_timeout(t0 + Duration::from_secs(5));
    let reports = sent(&mut l);
    assert_eq!(reports.len(), 1);
    let (src, dst, sr) = &reports[0];
    assert_eq!(
        (*src, *dst),
        (local(), nat_source()),
        "muxed on the RTP port, latched"
    );
    assert_eq!(sr[1], 200, "an SR: we sent since the last report");
    let s = parse_compound(sr, 0xabc).unwrap();
    let info = s.sender_info.unwrap();
    assert_eq!(
        (info.ssrc, info.packets, info.octets),
        (0x5151_0001, 10, 1600)
    );
    assert_eq!(
        s.about_us.unwrap().extended_highest_seq,
        500,
        "our block about the peer"
    );

    // Nothing sent in the next interval: an RR.
    l.handle_timeout(t0 + Duration::from_secs(10));
    let rr = sent(&mut l);
    assert_eq!(rr[0].2[1], 201);
}

#[test]
fn rtcp_without_mux_uses_the_next_port() {
    let t0 = Instant::now();
    let mut cfg = stream(local(), sdp_remote());
    let rtcp_local = addr("192.0.2.1:20001");
    cfg.local_rtcp = Some(rtcp_local);
    let mut l = RtpLeg::new(LegId(1), RtpLegConfig::default(), vec![cfg], t0);
    assert_eq!(
        l.component_of(rtcp_local),
        Some((MediaKind::Audio, cardea_media::rtp_leg::Component::Rtcp))
    );
    l.write_rtp(t0, MediaKind::Audio, &out(0, 1, 1, 0, b"x"))
        .unwrap();
    sent(&mut l);
    l.handle_timeout(t0 + Duration::from_secs(5));
    let r = sent(&mut l);
    assert_eq!((r[0].0, r[0].1), (rtcp_local, addr("10.0.0.5:4001")));
    // The peer's RTCP on our RTCP port latches the RTCP component alone.
    let rtcp_src = addr("203.0.113.9:31001");
    let their_rr = &r[0].2; // any well-formed compound will do
    assert_eq!(
        l.handle_datagram(t0, rtcp_src, rtcp_local, their_rr),
        Ok(None)
    );
    assert!(events(&mut l).contains(&RtpLegEvent::Latched {
        kind: MediaKind::Audio,
        addr: rtcp_src,
        rtcp: true
    }));
}

#[test]
fn a_keyframe_request_is_a_pli_to_the_peers_video_source_at_most_twice_a_second() {
    let t0 = Instant::now();
    let map = PtMap::new(&[(96, 96)]).unwrap();
    let mut video = RtpStreamConfig::new(MediaKind::Video, local(), map, 90_000);
    video.remote_rtp = Some(sdp_remote());
    video.ssrc = 0x0a0a_0a0a;
    let mut l = RtpLeg::new(LegId(1), RtpLegConfig::default(), vec![video], t0);
    l.request_keyframe(t0);
    assert!(
        sent(&mut l).is_empty(),
        "nothing before the peer's SSRC is known"
    );
    let from_peer = rtp(96, 1, 0, 0xbeef_0001, true, &[0x10, 0, 0]);
    assert!(l
        .handle_datagram(t0, sdp_remote(), local(), &from_peer)
        .is_ok());
    l.request_keyframe(t0);
    let out = sent(&mut l);
    assert_eq!(out.len(), 1);
    let (from, to, rtcp) = &out[0];
    assert_eq!(
        (*from, *to),
        (local(), sdp_remote()),
        "RTCP-mux: the RTP port"
    );
    // A compound packet: our report first, the PLI last.
    assert!(parse_compound(rtcp, 0x0a0a_0a0a).is_ok());
    let pli = &rtcp[rtcp.len() - 12..];
    assert_eq!(&pli[..4], &[0x81, 206, 0, 2]);
    assert_eq!(&pli[4..8], &0x0a0a_0a0au32.to_be_bytes());
    assert_eq!(&pli[8..], &0xbeef_0001u32.to_be_bytes());
    l.request_keyframe(t0 + Duration::from_millis(100));
    assert!(sent(&mut l).is_empty(), "rate-limited");
    l.request_keyframe(t0 + Duration::from_millis(600));
    assert_eq!(sent(&mut l).len(), 1);
}

#[test]
fn silence_reports_not_receiving() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    l.handle_datagram(t0, nat_source(), local(), &rtp(0, 1, 0, 0xabc, false, b"x"))
        .unwrap();
    events(&mut l);
    let due = l.next_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(1));
    l.handle_timeout(due);
    assert_eq!(
        events(&mut l),
        vec![RtpLegEvent::Receiving {
            kind: MediaKind::Audio,
            receiving: false
        }]
    );
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    let t0 = Instant::now();
    let mut l = leg(t0);
    let mut seed = 0x1234_5678u32;
    for len in 0..200 {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = l.handle_datagram(t0, nat_source(), local(), &data);
        let mut rtpish = data.clone();
        if let Some(b) = rtpish.first_mut() {
            *b = 0x80 | (*b & 0x3f);
        }
        let _ = l.handle_datagram(t0, nat_source(), local(), &rtpish);
    }
    assert!(l
        .handle_datagram(t0, nat_source(), addr("192.0.2.1:1"), b"x")
        .is_err());
}
