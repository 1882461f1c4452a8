//! Janus recordings (`.mjr`, version 2), sans-IO: the bytes of a file that Janus's
//! `janus-pp-rec` turns into .opus/.webm/.mp4. A recording is:
//!
//! ```text
//! "MJR00002"                                   file magic
//! u16 BE length, JSON info                     written with the first frame:
//!     {"t":"a"|"v"|"d","c":codec,"f":fmtp?,"d":description?,"s":created µs,"u":first frame µs}
//! then per frame:
//! "MEET", u32 BE ms since the first frame, u16 BE length, the RTP packet
//!     (a data frame's length counts an u64 BE wall-clock µs that precedes the message)
//! ```
//!
//! The shard appends frames to a [`Recorder`]'s buffer (no I/O per packet) and hands the
//! buffer to the bridge's writer thread when it is full or on its flush tick.

use std::time::Instant;

use str0m::media::Rid;

/// File magic of version 2 recordings (JSON info header).
const MAGIC: &[u8; 8] = b"MJR00002";
/// Marks the start of each frame.
const FRAME: &[u8; 4] = b"MEET";
/// A buffer this full goes to the writer at once instead of waiting for the tick.
pub const FLUSH_BYTES: usize = 64 * 1024;

/// What a recording holds: the `t` of its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedKind {
    Audio,
    Video,
    Data,
}

impl RecordedKind {
    fn letter(self) -> &'static str {
        match self {
            Self::Audio => "a",
            Self::Video => "v",
            Self::Data => "d",
        }
    }

    /// The kind Janus infers from a codec name (`None`: a codec it would refuse).
    pub fn of_codec(codec: &str) -> Option<Self> {
        match codec.to_ascii_lowercase().as_str() {
            "vp8" | "vp9" | "h264" | "av1" | "h265" => Some(Self::Video),
            "opus" | "multiopus" | "g711" | "pcmu" | "pcma" | "g722" | "l16-48" | "l16" => {
                Some(Self::Audio)
            }
            "text" | "binary" => Some(Self::Data),
            _ => None,
        }
    }
}

/// The info header of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MjrInfo {
    pub kind: RecordedKind,
    /// Janus's codec name, lower case (`opus`, `vp8`, `h264`, `text`...).
    pub codec: String,
    pub fmtp: Option<String>,
    pub description: Option<String>,
    /// When the recording was created, µs since 1970 (`s`).
    pub created_us: u64,
}

impl MjrInfo {
    /// The JSON text of the header, keys in Janus's order; `first_us` is `u`.
    fn json(&self, first_us: u64) -> String {
        let mut o = serde_json::Map::new();
        o.insert("t".into(), self.kind.letter().into());
        o.insert("c".into(), self.codec.clone().into());
        if let Some(f) = &self.fmtp {
            o.insert("f".into(), f.clone().into());
        }
        if let Some(d) = &self.description {
            o.insert("d".into(), d.clone().into());
        }
        o.insert("s".into(), self.created_us.into());
        o.insert("u".into(), first_us.into());
        serde_json::Value::Object(o).to_string()
    }
}

/// One RTP packet to record, as the shard has it.
#[derive(Debug, Clone, Copy)]
pub struct RecordedRtp<'a> {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub pt: u8,
    pub marker: bool,
    pub payload: &'a [u8],
}

/// Bytes of recording `id` for its file; `last`: the recording ended, the file closes.
#[derive(Debug)]
pub struct RecordChunk {
    pub id: u64,
    pub bytes: Vec<u8>,
    pub last: bool,
}

/// One recording of one stream: the frames not yet handed to the writer.
#[derive(Debug)]
pub struct Recorder {
    id: u64,
    info: MjrInfo,
    created_at: Instant,
    /// Of a simulcast stream, the layer recorded (`None`: any packet).
    rid: Option<Rid>,
    /// When the first frame was written (frame times count from it).
    first: Option<Instant>,
    buf: Vec<u8>,
    frames: u64,
    paused: bool,
    /// The next packet continues the numbering of the last one written (after a resume).
    resync: bool,
    /// Added to each packet's sequence number and timestamp (moved by each resume).
    seq_offset: u16,
    ts_offset: u32,
    /// The sequence number and timestamp last written, offsets applied.
    last: Option<(u16, u32)>,
}

impl Recorder {
    /// Recording `id` (the writer's name for its file), created at `now`.
    pub fn new(id: u64, info: MjrInfo, rid: Option<Rid>, now: Instant) -> Self {
        let mut buf = Vec::with_capacity(FLUSH_BYTES + 2048);
        buf.extend_from_slice(MAGIC);
        Self {
            id,
            info,
            created_at: now,
            rid,
            first: None,
            buf,
            frames: 0,
            paused: false,
            resync: false,
            seq_offset: 0,
            ts_offset: 0,
            last: None,
        }
    }

    /// Pauses (packets are left out) or resumes the recording. After a pause the next
    /// packet follows the last one written by one frame, as Janus's recorder does, so the
    /// file plays on without the gap.
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused && !paused {
            self.resync = true;
        }
        self.paused = paused;
    }

    /// One frame's worth of RTP clock: the step across a pause.
    fn frame_step(&self) -> u32 {
        match (self.info.kind, self.info.codec.as_str()) {
            (RecordedKind::Video, _) => 3000,
            (_, "opus" | "multiopus") => 960,
            _ => 160,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn kind(&self) -> RecordedKind {
        self.info.kind
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether a packet of simulcast layer `rid` belongs in this recording.
    pub fn wants(&self, rid: Option<Rid>) -> bool {
        self.rid.is_none() || self.rid == rid
    }

    /// The frame header, after the info header if this is the first frame.
    fn frame_header(&mut self, now: Instant, length: usize) {
        let first = match self.first {
            Some(t) => t,
            None => {
                let since = now.saturating_duration_since(self.created_at).as_micros();
                let first_us = self.info.created_us + u64::try_from(since).unwrap_or(0);
                let json = self.info.json(first_us);
                // A header longer than 64 KiB cannot be described: keep its start.
                let len = json.len().min(u16::MAX as usize);
                self.buf.extend_from_slice(&(len as u16).to_be_bytes());
                self.buf.extend_from_slice(&json.as_bytes()[..len]);
                self.first = Some(now);
                now
            }
        };
        let ms = now.saturating_duration_since(first).as_millis();
        self.buf.extend_from_slice(FRAME);
        self.buf
            .extend_from_slice(&u32::try_from(ms).unwrap_or(u32::MAX).to_be_bytes());
        self.buf.extend_from_slice(&(length as u16).to_be_bytes());
        self.frames += 1;
    }

    /// Appends an RTP packet (header without extensions, then the payload) that arrived
    /// at `now`. A packet too long for a frame is left out.
    pub fn write_rtp(&mut self, now: Instant, pkt: &RecordedRtp<'_>) {
        let length = 12 + pkt.payload.len();
        if length > u16::MAX as usize || self.info.kind == RecordedKind::Data {
            return;
        }
        if self.paused {
            return;
        }
        if std::mem::take(&mut self.resync) {
            if let Some((seq, ts)) = self.last {
                self.seq_offset = seq.wrapping_add(1).wrapping_sub(pkt.seq);
                self.ts_offset = ts.wrapping_add(self.frame_step()).wrapping_sub(pkt.ts);
            }
        }
        let seq = pkt.seq.wrapping_add(self.seq_offset);
        let ts = pkt.ts.wrapping_add(self.ts_offset);
        self.last = Some((seq, ts));
        self.frame_header(now, length);
        self.buf.push(0x80);
        self.buf
            .push((pkt.pt & 0x7f) | if pkt.marker { 0x80 } else { 0 });
        self.buf.extend_from_slice(&seq.to_be_bytes());
        self.buf.extend_from_slice(&ts.to_be_bytes());
        self.buf.extend_from_slice(&pkt.ssrc.to_be_bytes());
        self.buf.extend_from_slice(pkt.payload);
    }

    /// Appends a data message received at `now`, with its wall-clock time (µs since 1970,
    /// from the recording's creation time and `now`) before it, as Janus writes them.
    pub fn write_data(&mut self, now: Instant, data: &[u8]) {
        let length = 8 + data.len();
        if length > u16::MAX as usize || self.info.kind != RecordedKind::Data || self.paused {
            return;
        }
        let since = now.saturating_duration_since(self.created_at).as_micros();
        let unix_us = self.info.created_us + u64::try_from(since).unwrap_or(0);
        self.frame_header(now, length);
        self.buf.extend_from_slice(&unix_us.to_be_bytes());
        self.buf.extend_from_slice(data);
    }

    /// The buffer is worth handing to the writer now.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= FLUSH_BYTES
    }

    /// What was written since the last call, for the writer (`None`: nothing).
    pub fn take(&mut self) -> Option<RecordChunk> {
        if self.buf.is_empty() {
            return None;
        }
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_BYTES + 2048));
        Some(RecordChunk {
            id: self.id,
            bytes,
            last: false,
        })
    }

    /// The end of the recording: what is left, and the writer closes the file.
    pub fn finish(mut self) -> RecordChunk {
        RecordChunk {
            id: self.id,
            bytes: std::mem::take(&mut self.buf),
            last: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn info(kind: RecordedKind, codec: &str) -> MjrInfo {
        MjrInfo {
            kind,
            codec: codec.into(),
            fmtp: None,
            description: None,
            created_us: 1_700_000_000_000_000,
        }
    }

    /// Reads a recording back as janus-pp-rec does: magic, header, frames.
    fn parse(bytes: &[u8]) -> (serde_json::Value, Vec<(u32, Vec<u8>)>) {
        assert_eq!(&bytes[..8], MAGIC);
        let len = u16::from_be_bytes([bytes[8], bytes[9]]) as usize;
        let header = serde_json::from_slice(&bytes[10..10 + len]).unwrap();
        let mut at = 10 + len;
        let mut frames = Vec::new();
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 4], FRAME);
            let ms = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            let n = u16::from_be_bytes([bytes[at + 8], bytes[at + 9]]) as usize;
            frames.push((ms, bytes[at + 10..at + 10 + n].to_vec()));
            at += 10 + n;
        }
        (header, frames)
    }

    #[test]
    fn an_audio_recording_has_janus_header_and_frames() {
        let t0 = Instant::now();
        let mut r = Recorder::new(7, info(RecordedKind::Audio, "opus"), None, t0);
        let payload = [1u8, 2, 3];
        for i in 0..3u16 {
            let pkt = RecordedRtp {
                ssrc: 0x1234,
                seq: 100 + i,
                ts: 960 * u32::from(i),
                pt: 111,
                marker: i == 0,
                payload: &payload,
            };
            r.write_rtp(t0 + Duration::from_millis(50 + 20 * u64::from(i)), &pkt);
        }
        assert_eq!(r.frames(), 3);
        let mut bytes = r.take().unwrap().bytes;
        assert!(r.take().is_none(), "nothing new since the last take");
        let last = r.finish();
        assert!(last.last && last.bytes.is_empty());
        bytes.extend(last.bytes);
        let (header, frames) = parse(&bytes);
        assert_eq!(header["t"], "a");
        assert_eq!(header["c"], "opus");
        assert_eq!(header["s"], 1_700_000_000_000_000u64);
        assert_eq!(header["u"], 1_700_000_000_050_000u64);
        let keys: Vec<&String> = header.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["t", "c", "s", "u"]);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].0, 0);
        assert_eq!(frames[2].0, 40);
        let rtp = &frames[1].1;
        assert_eq!(rtp.len(), 15);
        assert_eq!(rtp[0], 0x80);
        assert_eq!(rtp[1], 111);
        assert_eq!(u16::from_be_bytes([rtp[2], rtp[3]]), 101);
        assert_eq!(u32::from_be_bytes(rtp[4..8].try_into().unwrap()), 960);
        assert_eq!(u32::from_be_bytes(rtp[8..12].try_into().unwrap()), 0x1234);
        assert_eq!(&rtp[12..], &payload);
        assert_eq!(frames[0].1[1], 0x80 | 111, "the marker bit is kept");
    }

    #[test]
    fn a_pause_leaves_packets_out_and_the_resumed_numbering_follows_on() {
        let t0 = Instant::now();
        let mut r = Recorder::new(4, info(RecordedKind::Audio, "pcmu"), None, t0);
        let payload = [0xffu8; 160];
        let write = |r: &mut Recorder, seq: u16| {
            let pkt = RecordedRtp {
                ssrc: 9,
                seq,
                ts: u32::from(seq) * 160,
                pt: 0,
                marker: false,
                payload: &payload,
            };
            r.write_rtp(t0, &pkt);
        };
        write(&mut r, 10);
        write(&mut r, 11);
        r.set_paused(true);
        write(&mut r, 12);
        write(&mut r, 13);
        r.set_paused(false);
        write(&mut r, 500);
        write(&mut r, 501);
        let (_, frames) = parse(&r.finish().bytes);
        let numbering: Vec<(u16, u32)> = frames
            .iter()
            .map(|(_, rtp)| {
                let seq = u16::from_be_bytes([rtp[2], rtp[3]]);
                (seq, u32::from_be_bytes(rtp[4..8].try_into().unwrap()))
            })
            .collect();
        assert_eq!(
            numbering,
            [(10, 1600), (11, 1760), (12, 1920), (13, 2080)],
            "paused packets left out, the resumed ones one frame after the last"
        );
    }

    #[test]
    fn a_recording_without_frames_is_only_the_magic() {
        let r = Recorder::new(1, info(RecordedKind::Video, "vp8"), None, Instant::now());
        let chunk = r.finish();
        assert_eq!(chunk.bytes, MAGIC);
        assert!(chunk.last);
    }

    #[test]
    fn data_frames_carry_their_wall_clock_time() {
        let t0 = Instant::now();
        let mut i = info(RecordedKind::Data, "text");
        i.description = Some("chat \"room\"".into());
        let mut r = Recorder::new(2, i, None, t0);
        r.write_data(t0 + Duration::from_millis(3), b"hello");
        let (header, frames) = parse(&r.finish().bytes);
        assert_eq!(header["t"], "d");
        assert_eq!(header["d"], "chat \"room\"");
        assert_eq!(frames[0].1[..8], 1_700_000_000_003_000u64.to_be_bytes());
        assert_eq!(&frames[0].1[8..], b"hello");
    }

    #[test]
    fn a_full_buffer_asks_to_be_written() {
        let t0 = Instant::now();
        let mut r = Recorder::new(3, info(RecordedKind::Video, "vp8"), None, t0);
        let payload = vec![0u8; 1200];
        while !r.is_full() {
            let pkt = RecordedRtp {
                ssrc: 1,
                seq: 1,
                ts: 1,
                pt: 96,
                marker: false,
                payload: &payload,
            };
            r.write_rtp(t0, &pkt);
        }
        assert!(r.take().unwrap().bytes.len() >= FLUSH_BYTES);
        assert!(!r.is_full());
        assert_eq!(RecordedKind::of_codec("VP8"), Some(RecordedKind::Video));
        assert_eq!(RecordedKind::of_codec("mp3"), None);
    }
}
