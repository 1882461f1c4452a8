//! The mixer on its own: participants send tones, each must hear the others' and not its
//! own, in its own codec.

use std::time::{Duration, Instant};

use super::{MixCodec, MixParticipant, Mixer, MixerEvent, Outgoing, FRAME};
use crate::mixer::g711;
use crate::LegId;

/// Power of `freq` in `samples` (Goertzel), normalised by the length.
fn power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64).powi(2)
}

struct Peer {
    leg: LegId,
    codec: MixCodec,
    freq: f64,
    enc: Option<opus::Encoder>,
    dec: Option<opus::Decoder>,
    phase: usize,
    seq: u64,
    /// The audio level its packets carry (dBov), as a browser sends it.
    level: Option<i8>,
    heard: Vec<i16>,
}

impl Peer {
    fn new(id: u64, codec: MixCodec, freq: f64) -> Self {
        let opus = codec == MixCodec::Opus;
        Self {
            leg: LegId(id),
            codec,
            freq,
            enc: opus.then(|| {
                opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap()
            }),
            dec: opus.then(|| opus::Decoder::new(48_000, opus::Channels::Mono).unwrap()),
            phase: 0,
            seq: 1000,
            level: None,
            heard: Vec::new(),
        }
    }

    fn settings(&self) -> MixParticipant {
        MixParticipant {
            codec: self.codec,
            pt: match self.codec {
                MixCodec::Opus => 111,
                MixCodec::Pcmu => 0,
                MixCodec::Pcma => 8,
            },
            ..MixParticipant::default()
        }
    }

    /// One 20 ms packet of its tone.
    fn packet(&mut self) -> Vec<u8> {
        let rate = self.codec.clock_rate() as usize;
        let n = rate / 50;
        let pcm: Vec<i16> = (0..n)
            .map(|i| {
                let t = (self.phase + i) as f64 / rate as f64;
                (8000.0 * (2.0 * std::f64::consts::PI * self.freq * t).sin()) as i16
            })
            .collect();
        self.phase += n;
        match self.codec {
            MixCodec::Opus => self.enc.as_mut().unwrap().encode_vec(&pcm, 1500).unwrap(),
            MixCodec::Pcmu => pcm.iter().map(|&s| g711::ulaw_encode(s)).collect(),
            MixCodec::Pcma => pcm.iter().map(|&s| g711::alaw_encode(s)).collect(),
        }
    }

    fn receive(&mut self, o: &Outgoing) {
        match self.codec {
            MixCodec::Opus => {
                let mut out = vec![0i16; 5760];
                let n = self
                    .dec
                    .as_mut()
                    .unwrap()
                    .decode(&o.payload, &mut out, false)
                    .unwrap();
                self.heard.extend_from_slice(&out[..n]);
            }
            MixCodec::Pcmu => self
                .heard
                .extend(o.payload.iter().map(|&c| g711::ulaw_decode(c))),
            MixCodec::Pcma => self
                .heard
                .extend(o.payload.iter().map(|&c| g711::alaw_decode(c))),
        }
    }

    /// Power of `freq` over the last second heard.
    fn hears(&self, freq: f64) -> f64 {
        let rate = self.codec.clock_rate();
        let tail = &self.heard[self.heard.len().saturating_sub(rate as usize)..];
        power(tail, rate, freq)
    }
}

/// A mixer at `rate` with `peers` joined at `start`.
fn mixer_with(id: LegId, rate: u32, start: Instant, peers: &[Peer]) -> Mixer {
    let mut mixer = Mixer::new(id, rate);
    for p in peers {
        mixer.join(start, p.leg, p.settings()).unwrap();
    }
    mixer
}

/// Runs `ticks` frames with every peer sending, and hands out what the mixer sent.
fn run(mixer: &mut Mixer, peers: &mut [Peer], start: Instant, from: u32, ticks: u32) -> Instant {
    let mut now = start;
    for k in from..from + ticks {
        now = start + FRAME * k;
        for p in peers.iter_mut() {
            let pkt = p.packet();
            mixer.push(p.leg, p.settings().pt, p.seq, &pkt, p.level);
            p.seq += 1;
        }
        mixer.handle_timeout(now);
        let out: Vec<Outgoing> = mixer.drain_outgoing().collect();
        for o in &out {
            if let Some(p) = peers.iter_mut().find(|p| p.leg == o.leg) {
                p.receive(o);
            }
        }
    }
    now
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

#[test]
fn each_hears_the_others_and_not_itself() {
    for rate in [16_000, 48_000, 8_000] {
        let start = Instant::now();
        let mut peers = vec![
            Peer::new(1, MixCodec::Opus, 440.0),
            Peer::new(2, MixCodec::Opus, 1000.0),
            Peer::new(
                3,
                MixCodec::Pcmu,
                2500.0 * f64::from(rate.min(8000)) / 8000.0 / 1.25,
            ),
        ];
        let mut mixer = mixer_with(LegId(1 << 60), rate, start, &peers);
        run(&mut mixer, &mut peers, start, 1, 100);
        let freqs: Vec<f64> = peers.iter().map(|p| p.freq).collect();
        for p in &peers {
            let own = p.hears(p.freq);
            for &f in freqs.iter().filter(|&&f| f != p.freq) {
                let other = p.hears(f);
                assert!(
                    db(other / own.max(1e-9)) > 20.0,
                    "rate {rate}: peer {} hears {f} Hz at {other:.1} but its own {} Hz at {own:.1}",
                    p.leg,
                    p.freq
                );
            }
        }
    }
}

/// Packets a sender marks quiet (audio level at -75 dBov or under) are not decoded once the
/// hangover has passed: a tone falsely marked quiet is not heard, which shows the decoder
/// did not run. When the levels are true again, the talker is heard again from a decoder
/// started afresh.
#[test]
fn quiet_packets_are_skipped_and_talk_resumes() {
    let start = Instant::now();
    let mut peers = vec![
        Peer::new(1, MixCodec::Opus, 440.0),
        Peer::new(2, MixCodec::Opus, 1000.0),
    ];
    let mut mixer = mixer_with(LegId(1 << 60), 48_000, start, &peers);
    peers[0].level = Some(-20);
    peers[1].level = Some(-20);
    run(&mut mixer, &mut peers, start, 1, 60);
    assert!(peers[1].hears(440.0) > 1e4, "the talker is heard");
    // Peer 1 keeps sending its tone, but says it is silent.
    peers[0].level = Some(-90);
    run(&mut mixer, &mut peers, start, 61, 60);
    let skipped = peers[1].hears(440.0);
    assert!(
        skipped < 100.0,
        "a packet marked quiet is not decoded: heard {skipped:.1}"
    );
    assert!(peers[0].hears(1000.0) > 1e4, "the other way is untouched");
    peers[0].level = Some(-20);
    run(&mut mixer, &mut peers, start, 121, 60);
    let back = peers[1].hears(440.0);
    assert!(back > 1e4, "heard again once loud: {back:.1}");
    // A PCMU participant's level is ignored: G.711 costs nothing to decode.
    let mut peers = vec![
        Peer::new(3, MixCodec::Pcmu, 600.0),
        Peer::new(4, MixCodec::Pcmu, 1500.0),
    ];
    for p in &mut peers {
        p.level = Some(-127);
    }
    let mut mixer = mixer_with(LegId(2 << 60), 8_000, start, &peers);
    run(&mut mixer, &mut peers, start, 1, 60);
    assert!(peers[1].hears(600.0) > 1e4, "G.711 is always decoded");
}

#[test]
fn a_muted_participant_is_not_heard_and_others_share_a_payload() {
    let start = Instant::now();
    let mut peers = vec![
        Peer::new(1, MixCodec::Opus, 440.0),
        Peer::new(2, MixCodec::Opus, 1000.0),
        Peer::new(3, MixCodec::Opus, 1800.0),
    ];
    let mut mixer = mixer_with(LegId(1 << 60), 16_000, start, &peers);
    let now = run(&mut mixer, &mut peers, start, 1, 50);
    let muted = MixParticipant {
        muted: true,
        ..peers[0].settings()
    };
    mixer.join(now, peers[0].leg, muted).unwrap();
    run(&mut mixer, &mut peers, start, 51, 60);
    for p in &peers[1..] {
        let loud = p.hears(peers[1..].iter().find(|q| q.leg != p.leg).unwrap().freq);
        let gone = p.hears(440.0);
        assert!(
            db(loud / gone.max(1e-9)) > 20.0,
            "muted tone still heard by {}",
            p.leg
        );
    }
    // The muted one hears both others; the other two are heard, so each gets its own mix.
    assert!(peers[0].hears(1000.0) > 1.0 && peers[0].hears(1800.0) > 1.0);
}

#[test]
fn silent_listeners_share_one_encoded_mix() {
    let start = Instant::now();
    let mut mixer = Mixer::new(LegId(1 << 60), 48_000);
    let speaker = Peer::new(1, MixCodec::Opus, 700.0);
    mixer.join(start, speaker.leg, speaker.settings()).unwrap();
    for id in 2..6 {
        mixer
            .join(
                start,
                LegId(id),
                Peer::new(id, MixCodec::Opus, 0.0).settings(),
            )
            .unwrap();
    }
    let mut speaker = [speaker];
    run(&mut mixer, &mut speaker, start, 1, 10);
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let pkt = enc.encode_vec(&[5000i16; 960], 1500).unwrap();
    mixer.push(LegId(1), 111, 2000, &pkt, None);
    mixer.handle_timeout(start + FRAME * 12);
    let out: Vec<Outgoing> = mixer.drain_outgoing().collect();
    let last = out.iter().map(|o| o.seq).max().unwrap();
    let listeners: Vec<&Outgoing> = out
        .iter()
        .filter(|o| o.leg != LegId(1) && o.seq == last)
        .collect();
    assert_eq!(listeners.len(), 4);
    for o in &listeners[1..] {
        assert!(std::sync::Arc::ptr_eq(&o.payload, &listeners[0].payload));
    }
}

#[test]
fn suspended_participants_are_sent_nothing_and_numbering_continues() {
    let start = Instant::now();
    let mut mixer = Mixer::new(LegId(1 << 60), 16_000);
    let p = Peer::new(1, MixCodec::Pcma, 300.0);
    mixer.join(start, p.leg, p.settings()).unwrap();
    mixer.handle_timeout(start + Duration::from_millis(20));
    let first: Vec<Outgoing> = mixer.drain_outgoing().collect();
    assert_eq!(first.len(), 1);
    assert!(first[0].marker);
    assert_eq!(first[0].payload.len(), 160);
    let suspended = MixParticipant {
        suspended: true,
        ..p.settings()
    };
    mixer.join(start, p.leg, suspended).unwrap();
    mixer.handle_timeout(start + Duration::from_millis(40));
    assert_eq!(mixer.drain_outgoing().count(), 0);
    mixer.join(start, p.leg, p.settings()).unwrap();
    mixer.handle_timeout(start + Duration::from_millis(60));
    let again: Vec<Outgoing> = mixer.drain_outgoing().collect();
    assert_eq!(again[0].seq, first[0].seq + 1);
    assert_eq!(again[0].ts, first[0].ts + 320);
}

#[test]
fn garbage_payloads_are_concealed_not_fatal() {
    let start = Instant::now();
    let mut peers = vec![
        Peer::new(1, MixCodec::Opus, 440.0),
        Peer::new(2, MixCodec::Opus, 900.0),
    ];
    let mut mixer = mixer_with(LegId(1 << 60), 48_000, start, &peers);
    for (i, junk) in [&[][..], &[0xff; 3][..], &[0xfc; 1400][..], &[0x00][..]]
        .iter()
        .enumerate()
    {
        mixer.push(LegId(1), 111, i as u64, junk, None);
    }
    mixer.handle_timeout(start + FRAME * 4);
    mixer.drain_outgoing().for_each(drop);
    run(&mut mixer, &mut peers, start, 5, 60);
    assert!(peers[0].hears(900.0) > 1.0);
}

#[test]
fn a_played_file_is_mixed_and_its_end_reported() {
    // An Ogg/Opus file is made of encoded frames: build the MediaFile directly.
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
    let frames: Vec<(std::sync::Arc<[u8]>, u32)> = (0..10)
        .map(|k| {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (k * 960 + i) as f64 / 48_000.0;
                    (8000.0 * (2.0 * std::f64::consts::PI * 600.0 * t).sin()) as i16
                })
                .collect();
            (enc.encode_vec(&pcm, 1500).unwrap().into(), 960)
        })
        .collect();
    let media = crate::MediaFile {
        clock_rate: 48_000,
        frames: frames.into(),
    };
    let start = Instant::now();
    let mut mixer = Mixer::new(LegId(1 << 60), 48_000);
    let mut peers = [Peer::new(1, MixCodec::Opus, 0.0)];
    mixer
        .join(start, peers[0].leg, peers[0].settings())
        .unwrap();
    mixer.play(start, "hello".into(), media, false);
    for k in 1..=12u32 {
        mixer.handle_timeout(start + FRAME * k);
        let out: Vec<Outgoing> = mixer.drain_outgoing().collect();
        for o in &out {
            peers[0].receive(o);
        }
    }
    assert!(power(&peers[0].heard[..9600], 48_000, 600.0) > 100.0);
    let events: Vec<MixerEvent> = mixer.drain_events().collect();
    assert_eq!(
        events,
        [MixerEvent::FileDone {
            file: "hello".into(),
            error: None
        }]
    );
}

/// When a participant leaves, the ones after it in the room still get their packets
/// mixed and their mix sent, and the one that left gets nothing more.
#[test]
fn the_others_go_on_when_one_leaves() {
    let start = Instant::now();
    let mut peers = vec![
        Peer::new(1, MixCodec::Opus, 440.0),
        Peer::new(2, MixCodec::Opus, 1000.0),
        Peer::new(3, MixCodec::Opus, 1800.0),
    ];
    let mut mixer = mixer_with(LegId(1 << 60), 16_000, start, &peers);
    run(&mut mixer, &mut peers, start, 1, 20);
    assert!(mixer.leave(LegId(2)));
    assert!(!mixer.leave(LegId(2)), "already gone");
    assert!(!mixer.has_member(LegId(2)) && mixer.has_member(LegId(3)));
    let mut rest: Vec<Peer> = peers.into_iter().filter(|p| p.leg != LegId(2)).collect();
    let before = rest[1].heard.len();
    run(&mut mixer, &mut rest, start, 21, 60);
    assert!(
        rest[1].heard.len() > before,
        "the last participant is still sent its mix"
    );
    assert!(
        rest[0].hears(1800.0) > 1e4,
        "the last participant is still mixed"
    );
    assert!(rest[1].hears(440.0) > 1e4);
    assert!(rest[1].hears(1000.0) < 1e3, "the one that left is not");
}
