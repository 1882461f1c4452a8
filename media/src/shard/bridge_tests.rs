//! A WebRTC leg bridged to an RTP leg, both ways, with an in-process str0m peer standing in
//! for the browser (ICE, DTLS and SRTP for real) on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind as Str0mKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::tests::{addr, local_rtp, peer, sent, shard_with_leg, webrtc_leg, RTP_LEG};
use super::Shard;
use crate::rtp_leg::{write_header, PtMap, RtpHeader};
use crate::{LegId, MediaCommand, MediaKind};

const WEBRTC: LegId = LegId(7);
const SIP_OPUS: u8 = 96;

/// The browser stand-in and what it received.
struct Browser {
    rtc: Rtc,
    rtp: Vec<(u8, u16, Vec<u8>)>,
    connected: bool,
}

impl Browser {
    fn addr() -> SocketAddr {
        addr("192.0.2.50:5000")
    }

    /// Polls the browser to its timeout, handing its datagrams to the shard.
    fn poll(&mut self, shard: &mut Shard, now: Instant) -> Instant {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    shard.handle_datagram(now, t.source, t.destination, &t.contents)
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::RtpPacket(p)) => self.rtp.push((
                    *p.header.payload_type,
                    p.header.sequence_number,
                    p.payload.to_vec(),
                )),
                Output::Event(_) => {}
            }
        }
    }

    /// Trades datagrams with the shard until both are quiet; returns the browser's timeout.
    fn exchange(&mut self, shard: &mut Shard, now: Instant) -> Instant {
        loop {
            let timeout = self.poll(shard, now);
            let transmits: Vec<_> = shard.pending_transmits().drain(..).collect();
            if transmits.is_empty() {
                return timeout;
            }
            for t in transmits {
                let r = Receive::new(Protocol::Udp, t.source, t.destination, &t.contents).unwrap();
                self.rtc.handle_input(Input::Receive(now, r)).unwrap();
            }
        }
    }

    /// Runs both sides' timers for `span` of virtual time.
    fn run(&mut self, shard: &mut Shard, now: &mut Instant, span: Duration) {
        let end = *now + span;
        while *now < end {
            let timeout = self.exchange(shard, *now);
            let next = shard.next_deadline().map_or(timeout, |d| d.min(timeout));
            *now = next.clamp(*now + Duration::from_millis(1), end);
            self.rtc.handle_input(Input::Timeout(*now)).unwrap();
            shard.handle_timeout(*now);
        }
        self.exchange(shard, *now);
    }
}

/// The browser offers one audio m-line; the shard's leg answers.
fn connect(shard: &mut Shard, now: &mut Instant) -> (Browser, Mid, u8) {
    let mut rtc = Rtc::builder().set_rtp_mode(true).build(*now);
    rtc.add_local_candidate(Candidate::host(Browser::addr(), "udp").unwrap());
    let mut change = rtc.sdp_api();
    let mid = change.add_media(Str0mKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let mut leg = webrtc_leg(WEBRTC, *now);
    let answer = leg.accept_offer(&offer.to_sdp_string()).unwrap();
    let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    let opus = rtc
        .codec_config()
        .iter()
        .find(|p| p.spec().codec == Codec::Opus)
        .map(|p| *p.pt())
        .unwrap();
    shard.handle_command(*now, MediaCommand::AddLeg(Box::new(leg)));
    let mut browser = Browser {
        rtc,
        rtp: Vec::new(),
        connected: false,
    };
    browser.run(shard, now, Duration::from_secs(2));
    assert!(browser.connected, "ICE and DTLS are up");
    (browser, mid, opus)
}

fn opus_to_sip(shard: &mut Shard, now: Instant, opus: u8) {
    shard.handle_command(
        now,
        MediaCommand::ConfigureRtp {
            leg: RTP_LEG,
            kind: MediaKind::Audio,
            remote_rtp: Some(peer()),
            remote_rtcp: None,
            pt_map: PtMap::new(&[(opus, SIP_OPUS)]).unwrap(),
            telephone_event: None,
            clock_rate: 48_000,
            srtp: None,
        },
    );
}

#[test]
fn a_bridge_carries_media_both_ways_without_transcoding() {
    let mut now = Instant::now();
    let mut shard = shard_with_leg(now);
    let (mut browser, mid, opus) = connect(&mut shard, &mut now);
    opus_to_sip(&mut shard, now, opus);
    shard.handle_command(
        now,
        MediaCommand::Bridge {
            webrtc: WEBRTC,
            rtp: RTP_LEG,
            enabled: true,
        },
    );
    sent(&mut shard);

    // Browser → SIP: the payload type is mapped, the payload untouched.
    for i in 0..5u16 {
        let mut api = browser.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).unwrap();
        let write = RtpWrite::new(
            opus.into(),
            u64::from(100 + i).into(),
            u32::from(i) * 960,
            now,
            vec![i as u8; 40],
        );
        tx.write_rtp(write);
        browser.run(&mut shard, &mut now, Duration::from_millis(20));
    }
    let to_sip: Vec<RtpHeader> = sent(&mut shard)
        .iter()
        .filter(|(s, d, b)| *s == local_rtp() && *d == peer() && b.len() == 52)
        .map(|(_, _, b)| RtpHeader::parse(b, true).unwrap())
        .collect();
    assert_eq!(to_sip.len(), 5, "{to_sip:?}");
    assert!(to_sip.iter().all(|h| h.pt == SIP_OPUS));
    assert!(to_sip
        .windows(2)
        .all(|w| w[1].seq == w[0].seq.wrapping_add(1)));

    // SIP → browser, across a sequence-number wrap on the SIP side.
    for i in 0..5u16 {
        let mut b = Vec::new();
        let seq = 65_533u16.wrapping_add(i);
        write_header(&mut b, false, SIP_OPUS, seq, u32::from(i) * 960, 0x5150);
        b.extend_from_slice(&[0xa0 + i as u8; 30]);
        shard.handle_datagram(now, peer(), local_rtp(), &b);
        browser.run(&mut shard, &mut now, Duration::from_millis(20));
    }
    assert_eq!(browser.rtp.len(), 5, "SRTP accepted every packet");
    for (i, (pt, _, payload)) in browser.rtp.iter().enumerate() {
        assert_eq!(*pt, opus);
        assert_eq!(payload, &vec![0xa0 + i as u8; 30]);
    }

    // Unbridged: nothing more crosses.
    shard.handle_command(
        now,
        MediaCommand::Bridge {
            webrtc: WEBRTC,
            rtp: RTP_LEG,
            enabled: false,
        },
    );
    let mut b = Vec::new();
    write_header(&mut b, false, SIP_OPUS, 2, 5 * 960, 0x5150);
    b.extend_from_slice(&[1; 30]);
    shard.handle_datagram(now, peer(), local_rtp(), &b);
    browser.run(&mut shard, &mut now, Duration::from_millis(20));
    assert_eq!(browser.rtp.len(), 5);
}
