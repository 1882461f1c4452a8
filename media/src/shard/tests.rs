//! The shard with plain RTP legs, driven on a virtual clock: routing by local address,
//! cleanup, DTMF, timers and bridge bookkeeping.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Shard;
use crate::rtp_leg::{
    write_header, LatchMode, PtMap, RtpHeader, RtpLeg, RtpLegConfig, RtpLegEvent, RtpStreamConfig,
};
use crate::{LegConfig, LegEvent, LegId, MediaCommand, MediaKind, WebRtcLeg};

pub(super) const RTP_LEG: LegId = LegId(7 | (1 << 62));
pub(super) const SIP_PCMU: u8 = 0;
const SIP_TE: u8 = 101;

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn local_rtp() -> SocketAddr {
    addr("192.0.2.1:20000")
}

pub(super) fn local_rtcp() -> SocketAddr {
    addr("192.0.2.1:20001")
}

pub(super) fn peer() -> SocketAddr {
    addr("198.51.100.7:4000")
}

fn rtp_leg(now: Instant) -> RtpLeg {
    let map = PtMap::new(&[(SIP_PCMU, SIP_PCMU)]).unwrap();
    let mut stream = RtpStreamConfig::new(MediaKind::Audio, local_rtp(), map, 8000);
    stream.local_rtcp = Some(local_rtcp());
    let config = RtpLegConfig {
        latch: LatchMode::default(),
        ..Default::default()
    };
    RtpLeg::new(RTP_LEG, config, vec![stream], now)
}

pub(super) fn shard_with_leg(now: Instant) -> Shard {
    let mut shard = Shard::new();
    shard.handle_command(now, MediaCommand::AddRtpLeg(Box::new(rtp_leg(now))));
    shard
}

fn configure(shard: &mut Shard, now: Instant) {
    shard.handle_command(
        now,
        MediaCommand::ConfigureRtp {
            leg: RTP_LEG,
            kind: MediaKind::Audio,
            remote_rtp: Some(peer()),
            remote_rtcp: None,
            pt_map: PtMap::new(&[(SIP_PCMU, SIP_PCMU), (126, SIP_TE)]).unwrap(),
            telephone_event: Some(SIP_TE),
            clock_rate: 8000,
            srtp: None,
        },
    );
}

fn pcmu(seq: u16) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(
        &mut b,
        false,
        SIP_PCMU,
        seq,
        u32::from(seq) * 160,
        0x1234_5678,
    );
    b.extend_from_slice(&[0xff; 160]);
    b
}

pub(super) fn rtp_events(shard: &mut Shard) -> Vec<RtpLegEvent> {
    shard
        .drain_events()
        .filter_map(|e| match e.event {
            LegEvent::Rtp(r) if e.leg == RTP_LEG => Some(r),
            _ => None,
        })
        .collect()
}

pub(super) fn sent(shard: &mut Shard) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    shard.drain_rtp_transmits(|s, d, b| out.push((s, d, b.to_vec())));
    out
}

pub(super) fn webrtc_leg(id: LegId, now: Instant) -> WebRtcLeg {
    let config = LegConfig {
        ice_lite: true,
        candidates: vec![addr("192.0.2.1:10000")],
        cert: crate::generate_dtls_cert().unwrap(),
        slowlink_threshold: 0,
    };
    WebRtcLeg::new(id, &config, now)
}

#[test]
fn a_datagram_on_an_rtp_legs_port_reaches_that_leg() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    configure(&mut shard, now);
    // The shard's WebRTC port is not the leg's: nothing there reaches it.
    shard.handle_datagram(now, peer(), addr("192.0.2.1:10000"), &pcmu(1));
    assert!(rtp_events(&mut shard).is_empty());
    shard.handle_datagram(now, peer(), local_rtp(), &pcmu(1));
    let events = rtp_events(&mut shard);
    assert!(
        events.contains(&RtpLegEvent::Receiving {
            kind: MediaKind::Audio,
            receiving: true
        }),
        "{events:?}"
    );
    // Garbage from the network is dropped without a word.
    shard.handle_datagram(now, peer(), local_rtp(), &[0x80, 0, 1]);
    shard.handle_datagram(now, peer(), local_rtcp(), &[0xff; 3]);
    assert!(rtp_events(&mut shard).is_empty());
}

#[test]
fn an_rtp_legs_timers_join_the_shards() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    configure(&mut shard, now);
    shard.handle_datagram(now, peer(), local_rtp(), &pcmu(1));
    rtp_events(&mut shard);
    let due = shard.next_deadline().expect("an RTP leg has timers");
    assert!(due <= now + Duration::from_secs(1), "the no-media timeout");
    shard.handle_timeout(due);
    assert_eq!(
        rtp_events(&mut shard),
        vec![RtpLegEvent::Receiving {
            kind: MediaKind::Audio,
            receiving: false
        }]
    );
    // The first RTCP report goes out from the RTCP port within half an interval.
    let mut t = due;
    let mut reports = Vec::new();
    for _ in 0..100 {
        if t >= now + Duration::from_secs(3) {
            break;
        }
        t = shard.next_deadline().unwrap().max(t);
        shard.handle_timeout(t);
        reports.extend(sent(&mut shard));
    }
    assert!(
        reports.iter().any(|(s, _, _)| *s == local_rtcp()),
        "{reports:?}"
    );
}

#[test]
fn removing_an_rtp_leg_forgets_its_addresses_timers_and_bridge() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    let webrtc = LegId(7);
    shard.handle_command(now, MediaCommand::AddLeg(Box::new(webrtc_leg(webrtc, now))));
    shard.handle_command(
        now,
        MediaCommand::Bridge {
            webrtc,
            rtp: RTP_LEG,
            enabled: true,
        },
    );
    assert_eq!(shard.bridges.rtp_of(webrtc), Some(RTP_LEG));
    assert_eq!(shard.by_local.len(), 2, "RTP and RTCP ports");
    shard.handle_command(
        now,
        MediaCommand::RemoveLeg {
            leg: RTP_LEG,
            close: true,
        },
    );
    assert_eq!(shard.rtp_leg_count(), 0);
    assert!(shard.by_local.is_empty());
    assert!(!shard.deadline_of.contains_key(&RTP_LEG));
    assert_eq!(shard.bridges.rtp_of(webrtc), None);
    shard.handle_datagram(now, peer(), local_rtp(), &pcmu(1));
    assert!(rtp_events(&mut shard).is_empty());
    assert_eq!(shard.leg_count(), 1, "the WebRTC leg stays");
}

#[test]
fn removing_a_webrtc_leg_ends_its_bridge() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    let webrtc = LegId(7);
    shard.handle_command(now, MediaCommand::AddLeg(Box::new(webrtc_leg(webrtc, now))));
    let bridge = |enabled| MediaCommand::Bridge {
        webrtc,
        rtp: RTP_LEG,
        enabled,
    };
    shard.handle_command(now, bridge(true));
    shard.handle_command(now, bridge(false));
    assert_eq!(shard.bridges.webrtc_of(RTP_LEG), None);
    shard.handle_command(now, bridge(true));
    // Media from the SIP peer meets a WebRTC leg with no negotiated mid yet: dropped.
    configure(&mut shard, now);
    shard.handle_datagram(now, peer(), local_rtp(), &pcmu(1));
    shard.handle_command(
        now,
        MediaCommand::RemoveLeg {
            leg: webrtc,
            close: false,
        },
    );
    assert_eq!(shard.bridges.webrtc_of(RTP_LEG), None);
    assert_eq!(shard.rtp_leg_count(), 1, "the RTP leg stays");
}

#[test]
fn a_leg_id_is_one_kind_of_leg() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    shard.handle_command(
        now,
        MediaCommand::AddLeg(Box::new(webrtc_leg(RTP_LEG, now))),
    );
    assert_eq!((shard.leg_count(), shard.rtp_leg_count()), (0, 1));
}

#[test]
fn send_dtmf_sends_telephone_events_to_the_peer() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    configure(&mut shard, now);
    shard.handle_command(
        now,
        MediaCommand::SendDtmf {
            leg: RTP_LEG,
            digit: '5',
            duration: Duration::from_millis(100),
        },
    );
    let mut packets = sent(&mut shard);
    assert!(
        !packets.is_empty(),
        "the first event packet goes out at once"
    );
    assert!(sent(&mut shard).is_empty(), "drained datagrams are gone");
    let mut t = now;
    for _ in 0..100 {
        if t >= now + Duration::from_millis(400) {
            break;
        }
        t = shard.next_deadline().unwrap().max(t);
        shard.handle_timeout(t);
        packets.extend(sent(&mut shard));
    }
    let events: Vec<RtpHeader> = packets
        .iter()
        .filter(|(s, d, _)| *s == local_rtp() && *d == peer())
        .map(|(_, _, b)| RtpHeader::parse(b, true).unwrap())
        .filter(|h| h.pt == SIP_TE)
        .collect();
    assert!(events.len() >= 5, "{} event packets", events.len());
    assert!(events[0].marker, "the first packet of an event is marked");
    assert!(
        events.iter().all(|h| h.ts == events[0].ts),
        "one event, one timestamp"
    );
}

#[test]
fn dtmf_for_an_unknown_leg_or_without_telephone_event_is_ignored() {
    let now = Instant::now();
    let mut shard = shard_with_leg(now);
    let dtmf = |leg| MediaCommand::SendDtmf {
        leg,
        digit: '1',
        duration: Duration::from_millis(100),
    };
    shard.handle_command(now, dtmf(LegId(99)));
    shard.handle_command(now, dtmf(RTP_LEG));
    assert!(sent(&mut shard).is_empty());
    assert!(!shard.has_rtp_transmits());
}
