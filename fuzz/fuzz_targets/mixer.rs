//! Arbitrary packets from participants of every codec into an AudioBridge mixer, with the
//! clock moving on: every tick must mix and encode, never panic, whatever the payloads.
#![no_main]

use std::time::{Duration, Instant};

use cardea_media::mixer::{Mixer, FRAME};
use cardea_media::{LegId, MixCodec, MixParticipant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let rate = [8000, 12000, 16000, 24000, 48000][usize::from(control % 5)];
    let t0 = Instant::now();
    let mut mixer = Mixer::new(LegId(1 << 60), rate);
    let codecs = [MixCodec::Opus, MixCodec::Pcmu, MixCodec::Pcma];
    for (i, codec) in codecs.iter().enumerate() {
        let p = MixParticipant {
            codec: *codec,
            pt: i as u8,
            muted: control & 0x20 != 0 && i == 0,
            volume: u16::from(control) * 3,
            expected_loss: control % 25,
            bitrate: u32::from(control) * 1000,
            ..MixParticipant::default()
        };
        mixer.join(t0, LegId(i as u64 + 1), p).unwrap();
    }
    let mut now = t0;
    let mut seq = 0u64;
    // Records: [who+flags, seq delta, len] then len bytes of payload.
    while let [head, delta, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        let who = LegId(u64::from(head % 3) + 1);
        seq = seq.wrapping_add(u64::from(*delta)).min(u64::MAX / 2);
        if head & 0x80 != 0 {
            mixer.push_rtp(who, head % 3, *delta as u16 * 97, payload);
        } else {
            // Bit 5 marks the packet quiet, as a sender's audio level may.
            let level = (head & 0x20 != 0).then_some(-100);
            mixer.push(who, head % 3, seq, payload, level);
        }
        if head & 0x40 != 0 {
            now += FRAME * u32::from(head & 0x07) + Duration::from_millis(u64::from(*delta % 7));
            mixer.handle_timeout(now);
            mixer.drain_outgoing().for_each(drop);
        }
    }
    now += FRAME * 3;
    mixer.handle_timeout(now);
    mixer.drain_outgoing().for_each(drop);
});
