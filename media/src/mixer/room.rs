//! One room's mixer: participants' jitter buffers and decoders feed 20 ms frames at the
//! room's rate; every tick the frames of those who are heard are summed once, and each
//! listener gets that sum less its own frame, encoded in its codec. Listeners who were not
//! heard all get the same sum, so it is encoded once per codec and the payload shared.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::g711;
use super::jitter::{Jitter, Turn};
use super::resample::Resampler;
use super::{MixCodec, MixForward, MixParticipant};

use crate::bridge::SeqExtender;
use crate::forward::{Datagrams, ForwardSrtp, RtpHeaderOut};
use crate::{LegId, MediaFile};

/// The mixer's frame.
pub const FRAME: Duration = Duration::from_millis(20);
/// The most samples one packet may decode to (120 ms at 48 kHz).
const MAX_DECODED: usize = 5760;
/// Mean power (per sample, 16-bit scale) under which a frame counts as silence: about
/// -60 dBFS. Silent participants are left out of the sum and get the shared mix.
const SILENCE_POWER: i64 = 33 * 33;
/// An opus packet whose sender puts its audio level at or below this (dBov) is not
/// decoded once the participant has been this quiet for [`QUIET_HANGOVER`] packets: it
/// would decode to a frame 15 dB or more under [`SILENCE_POWER`], which leaves it out of
/// the mix anyway (the volume gain tops out below that). Browsers send this level with
/// every packet (RFC 6464), so a room of listeners costs no decoding.
const QUIET_LEVEL: i8 = -75;
/// Quiet packets decoded before decoding stops, so a talker's tail is decoded in full.
const QUIET_HANGOVER: u32 = 2;
/// Ticks behind the clock after which the mixer gives up catching up and starts afresh.
const MAX_BEHIND: u32 = 5;
/// Largest encoded frame.
const MAX_PAYLOAD: usize = 1275;

/// The sampling rates a room may mix at (Janus's list).
pub const RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// A packet of mix for one participant, in its codec.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub leg: LegId,
    /// Toward the participant's plain RTP leg rather than its WebRTC leg.
    pub rtp: bool,
    pub pt: u8,
    /// The codec's RTP clock.
    pub clock: u32,
    pub ssrc: u32,
    pub seq: u64,
    pub ts: u32,
    pub marker: bool,
    pub payload: Arc<[u8]>,
}

/// What a mixer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixerEvent {
    /// A played file ended, or could not be played (`error`).
    FileDone { file: String, error: Option<String> },
    /// Samples of the whole mix at the room's rate, for its recording (about a second at
    /// a time).
    Recorded(Vec<i16>),
    /// The recording stopped; every sample of it has been reported.
    RecordingDone,
}

enum Decoder {
    Opus(opus::Decoder),
    G711 { alaw: bool, resampler: Resampler },
}

impl Decoder {
    fn new(codec: MixCodec, rate: u32) -> Result<Self, String> {
        Ok(match codec {
            MixCodec::Opus => Self::Opus(
                opus::Decoder::new(rate, opus::Channels::Mono).map_err(|e| e.to_string())?,
            ),
            MixCodec::Pcmu | MixCodec::Pcma => Self::G711 {
                alaw: codec == MixCodec::Pcma,
                resampler: Resampler::default(),
            },
        })
    }

    /// Decodes `payload` into `out` (room rate); returns the samples written. A payload
    /// the decoder refuses is concealed as a loss of one frame.
    fn decode(&mut self, payload: &[u8], out: &mut [i16], pcm8: &mut [i16], frame: usize) -> usize {
        match self {
            Self::Opus(d) => match d.decode(payload, out, false) {
                Ok(n) => n,
                Err(_) => self.conceal(None, out, frame),
            },
            Self::G711 { alaw, resampler } => {
                let n8 = payload.len().min(pcm8.len());
                for (s, &c) in pcm8.iter_mut().zip(&payload[..n8]) {
                    *s = if *alaw {
                        g711::alaw_decode(c)
                    } else {
                        g711::ulaw_decode(c)
                    };
                }
                // 8 kHz samples to the room's rate (frame samples per 160).
                let n = (n8 * frame / 160).min(out.len());
                resampler.process(&pcm8[..n8], &mut out[..n]);
                n
            }
        }
    }

    /// What `payload` would decode to, as silence, without decoding it (a quiet packet).
    /// The decoder's state goes stale: [`Self::refresh`] before the next real decode.
    fn skip(&self, payload: &[u8], out: &mut [i16], rate: u32, frame: usize) -> usize {
        let n = opus::packet::get_nb_samples(payload, rate)
            .unwrap_or(frame)
            .clamp(1, out.len());
        out[..n].fill(0);
        n
    }

    /// Starts afresh after skipped packets, so that the next frame does not carry on from
    /// audio decoded long before.
    fn refresh(&mut self) {
        if let Self::Opus(d) = self {
            // A reset that fails leaves the old state: a click at worst.
            let _ = d.reset_state();
        }
    }

    /// One frame for a lost packet: recovered from the next packet's FEC when it has it,
    /// else opus's concealment; silence for G.711.
    fn conceal(&mut self, next: Option<&[u8]>, out: &mut [i16], frame: usize) -> usize {
        let out = &mut out[..frame];
        match self {
            Self::Opus(d) => {
                let recovered = next.and_then(|p| d.decode(p, out, true).ok());
                match recovered.or_else(|| d.decode(&[], out, false).ok()) {
                    Some(n) => n,
                    None => {
                        out.fill(0);
                        frame
                    }
                }
            }
            Self::G711 { .. } => {
                out.fill(0);
                frame
            }
        }
    }
}

enum Encoder {
    Opus(opus::Encoder),
    G711 {
        alaw: bool,
        resampler: Resampler,
        pcm8: Box<[i16; 160]>,
    },
}

impl Encoder {
    fn new(codec: MixCodec, rate: u32, settings: &MixParticipant) -> Result<Self, String> {
        let mut e = match codec {
            MixCodec::Opus => Self::Opus(
                opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)
                    .map_err(|e| e.to_string())?,
            ),
            MixCodec::Pcmu | MixCodec::Pcma => Self::G711 {
                alaw: codec == MixCodec::Pcma,
                resampler: Resampler::default(),
                pcm8: Box::new([0; 160]),
            },
        };
        e.configure(settings);
        Ok(e)
    }

    fn configure(&mut self, s: &MixParticipant) {
        if let Self::Opus(e) = self {
            let bitrate = match s.bitrate {
                0 => opus::Bitrate::Auto,
                b => opus::Bitrate::Bits(b.clamp(500, 512_000) as i32),
            };
            // Settings libopus refuses keep their previous values.
            let _ = e.set_bitrate(bitrate);
            let _ = e.set_complexity(i32::from(s.quality.min(10)));
            let _ = e.set_inband_fec(s.expected_loss > 0);
            let _ = e.set_packet_loss_perc(i32::from(s.expected_loss.min(20)));
        }
    }

    /// Encodes one frame at the room's rate into `out`; returns the payload's length.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Self::Opus(e) => e.encode(pcm, out).unwrap_or(0),
            Self::G711 {
                alaw,
                resampler,
                pcm8,
            } => {
                resampler.process(pcm, &mut pcm8[..]);
                for (o, &s) in out.iter_mut().zip(pcm8.iter()) {
                    *o = if *alaw {
                        g711::alaw_encode(s)
                    } else {
                        g711::ulaw_encode(s)
                    };
                }
                pcm8.len()
            }
        }
    }
}

struct Member {
    leg: LegId,
    settings: MixParticipant,
    jitter: Jitter,
    /// Extends a plain RTP participant's sequence numbers.
    seq_in: SeqExtender,
    decoder: Decoder,
    /// Decoded samples not yet mixed (packets need not be 20 ms long).
    fifo: Vec<i16>,
    /// This tick's frame, gain applied.
    frame: Vec<i32>,
    /// Heard this tick.
    heard: bool,
    /// Quiet packets in a row (see [`QUIET_LEVEL`]).
    quiet_run: u32,
    /// Packets were skipped rather than decoded since the decoder last ran.
    stale: bool,
    /// Its own mix's encoder, made the first time it is heard.
    encoder: Option<Encoder>,
    ssrc: u32,
    seq: u64,
    ts: u32,
    sent: bool,
}

struct Forwarding {
    to: MixForward,
    srtp: Option<ForwardSrtp>,
    seq: u16,
    ts: u32,
}

struct Playing {
    file: String,
    media: MediaFile,
    next: usize,
    looped: bool,
    decoder: opus::Decoder,
    fifo: Vec<i16>,
}

/// A room's mixer, sans-IO: packets in with [`Self::push`], ticks with
/// [`Self::handle_timeout`], packets out with [`Self::drain_outgoing`].
pub struct Mixer {
    id: LegId,
    rate: u32,
    /// Samples per frame at the room's rate.
    frame: usize,
    members: Vec<Member>,
    /// Where each participant is in `members`: a packet finds its member in one lookup.
    index: HashMap<LegId, usize>,
    playing: Vec<Playing>,
    forwards: Vec<Forwarding>,
    /// Datagrams for the forwarders, from the shard's media socket.
    forwarded: Datagrams,
    shared: [Option<Encoder>; 3],
    next_tick: Option<Instant>,
    total: Vec<i32>,
    pcm: Vec<i16>,
    pcm8: Vec<i16>,
    mix: Vec<i16>,
    payload: Vec<u8>,
    out: Vec<Outgoing>,
    events: Vec<MixerEvent>,
    /// Frames mixed since the start (for the Admin API and benchmarks).
    pub ticks: u64,
    /// The whole mix kept for the recording, while one runs.
    recording: Option<Vec<i16>>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("id", &self.id)
            .field("rate", &self.rate)
            .field("members", &self.members.len())
            .finish()
    }
}

fn codec_index(codec: MixCodec) -> usize {
    match codec {
        MixCodec::Opus => 0,
        MixCodec::Pcmu => 1,
        MixCodec::Pcma => 2,
    }
}

impl Mixer {
    /// A mixer at `rate` Hz (one of [`RATES`]; others are taken as 16 kHz).
    pub fn new(id: LegId, rate: u32) -> Self {
        let rate = if RATES.contains(&rate) { rate } else { 16_000 };
        let frame = (rate / 50) as usize;
        Self {
            id,
            rate,
            frame,
            members: Vec::new(),
            index: HashMap::new(),
            playing: Vec::new(),
            forwards: Vec::new(),
            forwarded: Datagrams::default(),
            shared: [None, None, None],
            next_tick: None,
            total: vec![0; frame],
            pcm: vec![0; MAX_DECODED],
            pcm8: vec![0; MAX_DECODED],
            mix: vec![0; frame],
            payload: vec![0; MAX_PAYLOAD],
            out: Vec::new(),
            events: Vec::new(),
            ticks: 0,
            recording: None,
        }
    }

    pub fn id(&self) -> LegId {
        self.id
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn has_member(&self, leg: LegId) -> bool {
        self.index.contains_key(&leg)
    }

    fn member_mut(&mut self, leg: LegId) -> Option<&mut Member> {
        let at = *self.index.get(&leg)?;
        self.members.get_mut(at)
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn legs(&self) -> impl Iterator<Item = (LegId, bool)> + '_ {
        self.members.iter().map(|m| (m.leg, m.settings.rtp))
    }

    /// Adds a participant, or changes one's settings (a new codec starts its decoding
    /// afresh).
    pub fn join(
        &mut self,
        now: Instant,
        leg: LegId,
        settings: MixParticipant,
    ) -> Result<(), String> {
        let rate = self.rate;
        if let Some(m) = self.member_mut(leg) {
            if m.settings.codec != settings.codec {
                m.decoder = Decoder::new(settings.codec, rate)?;
                m.encoder = None;
                m.jitter.reset();
                m.fifo.clear();
            } else if let Some(e) = &mut m.encoder {
                e.configure(&settings);
            }
            m.settings = settings;
            return Ok(());
        }
        let decoder = Decoder::new(settings.codec, self.rate)?;
        let ssrc = (leg.0 as u32).rotate_left(13) ^ (leg.0 >> 32) as u32 ^ 0x6d69_7800;
        self.index.insert(leg, self.members.len());
        self.members.push(Member {
            leg,
            settings,
            jitter: Jitter::default(),
            seq_in: SeqExtender::default(),
            decoder,
            fifo: Vec::with_capacity(MAX_DECODED + self.frame),
            frame: vec![0; self.frame],
            heard: false,
            quiet_run: 0,
            stale: false,
            encoder: None,
            ssrc,
            seq: 0,
            ts: 0,
            sent: false,
        });
        self.next_tick.get_or_insert(now + FRAME);
        Ok(())
    }

    pub fn leave(&mut self, leg: LegId) -> bool {
        let Some(at) = self.index.remove(&leg) else {
            return false;
        };
        self.members.remove(at);
        for (i, m) in self.members.iter().enumerate().skip(at) {
            self.index.insert(m.leg, i);
        }
        if !self.busy() {
            self.next_tick = None;
        }
        true
    }

    /// An RTP packet from participant `leg` (its payload type already checked).
    /// An RTP packet from participant `leg`; packets of a payload type it does not send
    /// (telephone-events, comfort noise) are left out.
    /// `level` is the packet's audio level header extension (dBov), if it has one.
    pub fn push(&mut self, leg: LegId, pt: u8, seq: u64, payload: &[u8], level: Option<i8>) {
        if let Some(m) = self.member_mut(leg) {
            if m.settings.pt == pt {
                let quiet =
                    m.settings.codec == MixCodec::Opus && level.is_some_and(|l| l <= QUIET_LEVEL);
                m.jitter.push(seq, payload, quiet);
            }
        }
    }

    /// An RTP packet from participant `leg` numbered with the wire's 16 bits (a plain RTP
    /// participant).
    pub fn push_rtp(&mut self, leg: LegId, pt: u8, seq: u16, payload: &[u8]) {
        if let Some(m) = self.member_mut(leg) {
            if m.settings.pt != pt {
                return;
            }
            if let Some(seq) = m.seq_in.extend(seq) {
                m.jitter.push(seq, payload, false);
            }
        }
    }

    /// Plays an Ogg/Opus file into the mix (replacing one of the same name).
    pub fn play(&mut self, now: Instant, file: String, media: MediaFile, looped: bool) {
        self.stop(&file);
        match opus::Decoder::new(self.rate, opus::Channels::Mono) {
            Ok(decoder) => {
                self.playing.push(Playing {
                    file,
                    media,
                    next: 0,
                    looped,
                    decoder,
                    fifo: Vec::with_capacity(MAX_DECODED + self.frame),
                });
                self.next_tick.get_or_insert(now + FRAME);
            }
            Err(e) => self.events.push(MixerEvent::FileDone {
                file,
                error: Some(e.to_string()),
            }),
        }
    }

    /// Whether a tick has anything to do.
    fn busy(&self) -> bool {
        !self.members.is_empty()
            || !self.playing.is_empty()
            || !self.forwards.is_empty()
            || self.recording.is_some()
    }

    /// Starts or stops recording the whole mix ([`MixerEvent::Recorded`] carries it).
    pub fn record(&mut self, now: Instant, on: bool) {
        match (on, self.recording.take()) {
            (true, Some(kept)) => self.recording = Some(kept),
            (true, None) => {
                self.recording = Some(Vec::with_capacity(self.rate as usize));
                self.next_tick.get_or_insert(now + FRAME);
            }
            (false, Some(kept)) => {
                if !kept.is_empty() {
                    self.events.push(MixerEvent::Recorded(kept));
                }
                self.events.push(MixerEvent::RecordingDone);
            }
            (false, None) => {}
        }
    }

    /// Sends a copy of the whole mix to `to` (replacing a forwarder with its id).
    pub fn forward(&mut self, now: Instant, to: MixForward) {
        self.stop_forward(to.id);
        let srtp = match to.srtp.as_ref().map(ForwardSrtp::new).transpose() {
            Ok(srtp) => srtp,
            Err(e) => {
                tracing::warn!(forwarder = to.id, "SRTP for the mix forwarder failed: {e}");
                return;
            }
        };
        self.forwards.push(Forwarding {
            to,
            srtp,
            seq: 0,
            ts: 0,
        });
        self.next_tick.get_or_insert(now + FRAME);
    }

    /// Stops forwarder `id`; true if there was one.
    pub fn stop_forward(&mut self, id: u32) -> bool {
        let before = self.forwards.len();
        self.forwards.retain(|f| f.to.id != id);
        before != self.forwards.len()
    }

    pub fn forward_count(&self) -> usize {
        self.forwards.len()
    }

    /// The forwarders' datagrams of the ticks so far.
    pub(crate) fn forwarded(&mut self) -> &mut Datagrams {
        &mut self.forwarded
    }

    /// Stops a file; true if it was playing (no event is reported for it).
    pub fn stop(&mut self, file: &str) -> bool {
        let before = self.playing.len();
        self.playing.retain(|p| p.file != file);
        before != self.playing.len()
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.next_tick
    }

    /// Mixes every frame that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(mut at) = self.next_tick else {
            return;
        };
        let mut behind = 0;
        while at <= now {
            if behind == MAX_BEHIND {
                at = now + FRAME;
                break;
            }
            self.tick(at);
            at += FRAME;
            behind += 1;
        }
        self.next_tick = self.busy().then_some(at);
    }

    pub fn drain_outgoing(&mut self) -> std::vec::Drain<'_, Outgoing> {
        self.out.drain(..)
    }

    pub fn drain_events(&mut self) -> std::vec::Drain<'_, MixerEvent> {
        self.events.drain(..)
    }

    fn tick(&mut self, _at: Instant) {
        self.ticks += 1;
        let n = self.frame;
        self.total.fill(0);
        for m in &mut self.members {
            m.heard = false;
            while m.fifo.len() < n {
                let got = match m.jitter.turn() {
                    Turn::Packet(p, quiet) => {
                        m.quiet_run = if quiet { m.quiet_run + 1 } else { 0 };
                        if m.quiet_run > QUIET_HANGOVER {
                            m.stale = true;
                            m.decoder.skip(p, &mut self.pcm, self.rate, n)
                        } else {
                            if std::mem::take(&mut m.stale) {
                                m.decoder.refresh();
                            }
                            m.decoder.decode(p, &mut self.pcm, &mut self.pcm8, n)
                        }
                    }
                    // Between quiet packets a loss was most likely quiet too.
                    Turn::Lost { .. } if m.stale => {
                        self.pcm[..n].fill(0);
                        n
                    }
                    Turn::Lost { next } => m.decoder.conceal(next, &mut self.pcm, n),
                    Turn::Nothing => break,
                };
                m.jitter.advance();
                m.fifo.extend_from_slice(&self.pcm[..got]);
            }
            if m.fifo.len() < n {
                continue;
            }
            let gain = i32::from(m.settings.volume);
            let mut power: i64 = 0;
            for (f, &s) in m.frame.iter_mut().zip(&m.fifo[..n]) {
                let v = i32::from(s) * gain / 100;
                power += i64::from(v) * i64::from(v);
                *f = v;
            }
            m.fifo.drain(..n);
            m.heard = !m.settings.muted && power / n as i64 > SILENCE_POWER;
            if m.heard {
                for (t, f) in self.total.iter_mut().zip(&m.frame) {
                    *t += f;
                }
            }
        }
        self.mix_files();
        // The shared mix, once per codec that a listener who was not heard uses.
        let mut shared: [Option<Arc<[u8]>>; 3] = [None, None, None];
        let occupied = !self.members.is_empty();
        let listeners = self
            .members
            .iter()
            .filter(|m| !m.heard && !m.settings.suspended)
            .map(|m| m.settings.codec);
        let forwarders = self
            .forwards
            .iter()
            .filter(|f| occupied || f.to.always_on)
            .map(|f| f.to.codec);
        let mut codecs = [false; 3];
        for codec in listeners.chain(forwarders) {
            codecs[codec_index(codec)] = true;
        }
        for (i, codec) in [MixCodec::Opus, MixCodec::Pcmu, MixCodec::Pcma]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| codecs[*i])
        {
            for (o, &t) in self.mix.iter_mut().zip(&self.total) {
                *o = t.clamp(-32768, 32767) as i16;
            }
            if self.shared[i].is_none() {
                self.shared[i] = Encoder::new(codec, self.rate, &MixParticipant::default()).ok();
            }
            if let Some(e) = &mut self.shared[i] {
                let len = e.encode(&self.mix, &mut self.payload);
                shared[i] = Some(Arc::from(&self.payload[..len]));
            }
        }
        if !self.forwards.is_empty() {
            self.send_forwards(&shared);
        }
        if let Some(kept) = &mut self.recording {
            kept.extend(self.total.iter().map(|&t| t.clamp(-32768, 32767) as i16));
            if kept.len() >= self.rate as usize {
                let full = std::mem::replace(kept, Vec::with_capacity(self.rate as usize));
                self.events.push(MixerEvent::Recorded(full));
            }
        }
        for m in &mut self.members {
            let step = m.settings.codec.clock_rate() / 50;
            if m.settings.suspended {
                m.ts = m.ts.wrapping_add(step);
                continue;
            }
            let payload = if m.heard {
                // Everyone but itself.
                for ((o, &t), &f) in self.mix.iter_mut().zip(&self.total).zip(&m.frame) {
                    *o = (t - f).clamp(-32768, 32767) as i16;
                }
                if m.encoder.is_none() {
                    m.encoder = Encoder::new(m.settings.codec, self.rate, &m.settings).ok();
                }
                m.encoder.as_mut().map(|e| {
                    let len = e.encode(&self.mix, &mut self.payload);
                    Arc::from(&self.payload[..len])
                })
            } else {
                shared[codec_index(m.settings.codec)].clone()
            };
            if let Some(payload) = payload.filter(|p| !p.is_empty()) {
                self.out.push(Outgoing {
                    leg: m.leg,
                    rtp: m.settings.rtp,
                    pt: m.settings.pt,
                    clock: m.settings.codec.clock_rate(),
                    ssrc: m.ssrc,
                    seq: m.seq,
                    ts: m.ts,
                    marker: !m.sent,
                    payload,
                });
                m.seq += 1;
                m.sent = true;
            }
            m.ts = m.ts.wrapping_add(step);
        }
    }

    /// The whole mix, as RTP datagrams to the forwarders.
    fn send_forwards(&mut self, shared: &[Option<Arc<[u8]>>; 3]) {
        let occupied = !self.members.is_empty();
        for f in &mut self.forwards {
            let step = f.to.codec.clock_rate() / 50;
            let payload = shared[codec_index(f.to.codec)]
                .as_ref()
                .filter(|_| occupied || f.to.always_on);
            if let Some(payload) = payload {
                let header = RtpHeaderOut {
                    pt: f.to.pt,
                    marker: f.seq == 0,
                    seq: f.seq,
                    ts: f.ts,
                    ssrc: f.to.ssrc,
                };
                self.forwarded
                    .push_rtp(f.to.destination, &header, payload, f.srtp.as_mut());
                f.seq = f.seq.wrapping_add(1);
            }
            f.ts = f.ts.wrapping_add(step);
        }
    }

    /// Adds the files being played to the sum; those that ended are reported.
    fn mix_files(&mut self) {
        let n = self.frame;
        let mut i = 0;
        while i < self.playing.len() {
            let p = &mut self.playing[i];
            let mut wraps = 0;
            while p.fifo.len() < n {
                if p.next >= p.media.frames.len() {
                    // A file that decodes to nothing must not loop for ever.
                    wraps += 1;
                    if !p.looped || wraps > 1 {
                        break;
                    }
                    p.next = 0;
                }
                let (payload, _) = &p.media.frames[p.next];
                p.next += 1;
                let got = p.decoder.decode(payload, &mut self.pcm, false).unwrap_or(0);
                p.fifo.extend_from_slice(&self.pcm[..got]);
            }
            if p.fifo.len() >= n {
                for (t, &s) in self.total.iter_mut().zip(&p.fifo[..n]) {
                    *t += i32::from(s);
                }
                p.fifo.drain(..n);
                i += 1;
            } else {
                let done = self.playing.remove(i);
                self.events.push(MixerEvent::FileDone {
                    file: done.file,
                    error: None,
                });
            }
        }
    }
}
