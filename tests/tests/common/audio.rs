//! Audio the AudioBridge tests send and measure: pure tones encoded with libopus (the `opus`
//! crate, which shares no code with the server's mixer) into 20 ms packets, and the mixes a
//! peer received decoded again and measured with a Goertzel filter, one frequency at a time.
//!
//! Opus runs at 48 kHz mono here, whatever the room's sampling rate: opus carries 48 kHz on
//! the wire (RTP clock 48000) and a decoder may run at any rate. G.711 µ-law (PCMU) runs at
//! its own 8 kHz, encoded and decoded here by the book (ITU-T G.711).

use std::time::Duration;

use tokio::time::Instant;

use crate::common::peer::Got;

/// The sampling rate the tests encode and decode at.
pub const RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`RATE`] (also the RTP timestamp step of one packet).
pub const FRAME: usize = 960;
/// How often a packet is sent.
pub const PTIME: Duration = Duration::from_millis(20);
/// The amplitude of the tones the tests send, relative to full scale (−12 dBFS).
pub const TONE_AMPLITUDE: f64 = 0.25;
/// The longest run of missing sequence numbers concealed while decoding; a larger jump is a
/// new stream, decoded from there without concealment.
const MAX_CONCEALED: u16 = 25;

/// The G.711 sampling rate.
pub const G711_RATE: u32 = 8_000;
/// Samples in one 20 ms G.711 frame (also its RTP timestamp step).
pub const G711_FRAME: usize = 160;

/// A pure sine at `freq` Hz, continuous across frames.
pub struct Tone {
    freq: f64,
    rate: u32,
    amplitude: f64,
    phase: f64,
}

impl Tone {
    /// A tone sampled at [`RATE`].
    pub fn new(freq: f64) -> Tone {
        Tone::at(freq, RATE)
    }

    /// A tone sampled at `rate`.
    pub fn at(freq: f64, rate: u32) -> Tone {
        Tone {
            freq,
            rate,
            amplitude: TONE_AMPLITUDE,
            phase: 0.0,
        }
    }

    /// The next 20 ms of the tone, 16-bit mono at its rate.
    pub fn next_frame(&mut self) -> Vec<i16> {
        let step = std::f64::consts::TAU * self.freq / f64::from(self.rate);
        (0..self.rate as usize / 50)
            .map(|_| {
                let s = self.amplitude * self.phase.sin();
                self.phase = (self.phase + step) % std::f64::consts::TAU;
                (s * 32767.0).round() as i16
            })
            .collect()
    }
}

/// An opus encoder of 20 ms mono frames at [`RATE`], as a browser's (VoIP application).
pub struct ToneEncoder {
    tone: Tone,
    encoder: opus::Encoder,
}

impl ToneEncoder {
    pub fn new(freq: f64) -> ToneEncoder {
        let encoder = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Voip)
            .expect("an opus encoder");
        ToneEncoder {
            tone: Tone::new(freq),
            encoder,
        }
    }

    /// The next 20 ms of the tone as one opus packet.
    pub fn next_packet(&mut self) -> Vec<u8> {
        let pcm = self.tone.next_frame();
        self.encoder
            .encode_vec(&pcm, 1500)
            .expect("opus encodes a 20 ms frame")
    }
}

/// G.711 µ-law, as the baresip tests use it.
pub use cardea_tests::baresip::{ulaw_decode, ulaw_encode};

/// The next 20 ms of a tone as one PCMU payload (160 bytes).
pub struct UlawToneEncoder {
    tone: Tone,
}

impl UlawToneEncoder {
    pub fn new(freq: f64) -> UlawToneEncoder {
        UlawToneEncoder {
            tone: Tone::at(freq, G711_RATE),
        }
    }

    pub fn next_packet(&mut self) -> Vec<u8> {
        self.tone
            .next_frame()
            .into_iter()
            .map(ulaw_encode)
            .collect()
    }
}

/// The PCMU packets that arrived in `[from, to)`, decoded at 8 kHz (a missing packet is a
/// gap of silence).
pub fn decode_ulaw_window(got: &[Got], from: Instant, to: Instant) -> Decoded {
    let mut out = Decoded::default();
    let mut last_seq: Option<u16> = None;
    for g in got.iter().filter(|g| g.at >= from && g.at < to) {
        if let Some(last) = last_seq {
            let gap = g.seq.wrapping_sub(last);
            if gap > 1 && gap <= MAX_CONCEALED {
                out.missing += usize::from(gap - 1);
                out.samples
                    .extend(std::iter::repeat_n(0.0, G711_FRAME * usize::from(gap - 1)));
            }
        }
        last_seq = Some(g.seq);
        if g.payload.len() != G711_FRAME {
            out.errors.push(format!(
                "seq {}: {} bytes of PCMU, not {G711_FRAME} (20 ms)",
                g.seq,
                g.payload.len()
            ));
        }
        out.samples.extend(
            g.payload
                .iter()
                .map(|&b| f32::from(ulaw_decode(b)) / 32768.0),
        );
        out.packets += 1;
    }
    out
}

/// What decoding the packets of a window gave.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The samples (48 kHz mono, full scale 1.0) of the packets that arrived in the window,
    /// concealment of missing ones included.
    pub samples: Vec<f32>,
    /// Packets that arrived in the window.
    pub packets: usize,
    /// Packets of the window missing by sequence number (concealed).
    pub missing: usize,
    /// Packets of the window libopus could not decode, with its message.
    pub errors: Vec<String>,
}

/// Decodes every packet received (in arrival order, from the first, so that the decoder's
/// state is the one a browser would have) and keeps the samples of those that arrived in
/// `[from, to)`. A gap of up to [`MAX_CONCEALED`] sequence numbers is concealed by the
/// decoder (packet loss concealment), as a browser's jitter buffer would.
pub fn decode_window(got: &[Got], from: Instant, to: Instant) -> Decoded {
    let mut decoder =
        opus::Decoder::new(RATE, opus::Channels::Mono).expect("an opus decoder at 48 kHz");
    let mut out = Decoded::default();
    // 120 ms, the longest opus packet.
    let mut pcm = vec![0i16; 5760];
    let mut last_seq: Option<u16> = None;
    for g in got {
        let in_window = g.at >= from && g.at < to;
        if let Some(last) = last_seq {
            let gap = g.seq.wrapping_sub(last);
            if gap > 1 && gap <= MAX_CONCEALED {
                for _ in 1..gap {
                    let n = decoder.decode(&[], &mut pcm[..FRAME], false).unwrap_or(0);
                    if in_window {
                        out.missing += 1;
                        out.samples
                            .extend(pcm[..n].iter().map(|&s| f32::from(s) / 32768.0));
                    }
                }
            }
        }
        last_seq = Some(g.seq);
        match decoder.decode(&g.payload, &mut pcm, false) {
            Ok(n) => {
                if in_window {
                    out.samples
                        .extend(pcm[..n].iter().map(|&s| f32::from(s) / 32768.0));
                }
            }
            Err(e) => {
                if in_window {
                    out.errors.push(format!(
                        "seq {}: {e} ({} bytes {:02x?})",
                        g.seq,
                        g.payload.len(),
                        &g.payload[..g.payload.len().min(8)]
                    ));
                }
            }
        }
        if in_window {
            out.packets += 1;
        }
    }
    out
}

/// The amplitude (full scale 1.0) of the `freq` Hz component of `samples` at `rate`: a
/// Goertzel filter over the Hann-windowed samples, scaled so that a sine of amplitude A
/// gives about A.
pub fn goertzel_amplitude(samples: &[f32], rate: f64, freq: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let w = std::f64::consts::TAU * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut window_sum = 0.0;
    for (i, &x) in samples.iter().enumerate() {
        let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1).max(1) as f64).cos();
        window_sum += hann;
        let s0 = f64::from(x) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * power.sqrt() / window_sum
}

/// An amplitude in dB relative to full scale (−200 for silence).
pub fn dbfs(amplitude: f64) -> f64 {
    if amplitude <= 1e-10 {
        -200.0
    } else {
        20.0 * amplitude.log10()
    }
}

/// The level in dBFS of each frequency in `samples` (48 kHz).
pub fn tone_levels(samples: &[f32], freqs: &[f64]) -> Vec<f64> {
    tone_levels_at(samples, RATE, freqs)
}

/// The level in dBFS of each frequency in `samples` sampled at `rate`.
pub fn tone_levels_at(samples: &[f32], rate: u32, freqs: &[f64]) -> Vec<f64> {
    freqs
        .iter()
        .map(|&f| dbfs(goertzel_amplitude(samples, f64::from(rate), f)))
        .collect()
}

/// The RMS level of `samples` in dBFS.
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return -200.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    dbfs((sum / samples.len() as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_a_tone_and_not_its_neighbours() {
        let mut tone = Tone::new(1000.0);
        let samples: Vec<f32> = (0..50)
            .flat_map(|_| tone.next_frame())
            .map(|s| f32::from(s) / 32768.0)
            .collect();
        let levels = tone_levels(&samples, &[440.0, 1000.0, 2500.0]);
        assert!((levels[1] - dbfs(TONE_AMPLITUDE)).abs() < 0.5, "{levels:?}");
        assert!(levels[0] < -80.0 && levels[2] < -80.0, "{levels:?}");
    }

    #[test]
    fn ulaw_round_trips_within_its_step() {
        // G.711's own table: 0 -> 0xff, the largest positive value -> 0x80.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        for s in (-32000i32..32000).step_by(7) {
            let s = s as i16;
            let back = ulaw_decode(ulaw_encode(s));
            let step = (i32::from(s).abs() / 16).max(8);
            assert!(
                (i32::from(back) - i32::from(s)).abs() <= step,
                "{s} -> {back}"
            );
        }
        let mut encoder = UlawToneEncoder::new(1000.0);
        let samples: Vec<f32> = (0..50)
            .flat_map(|_| encoder.next_packet())
            .map(|b| f32::from(ulaw_decode(b)) / 32768.0)
            .collect();
        let levels = tone_levels_at(&samples, G711_RATE, &[440.0, 1000.0, 2500.0]);
        assert!((levels[1] - dbfs(TONE_AMPLITUDE)).abs() < 0.5, "{levels:?}");
        assert!(levels[0] < -40.0 && levels[2] < -40.0, "{levels:?}");
    }
}
