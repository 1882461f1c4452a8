//! Audio files a source plays as if it were live RTP (Janus's `live` and `ondemand`
//! mountpoints): Ogg/Opus (RFC 7845) and raw G.711 (A-law, µ-law), read into 20 ms (or
//! whatever the file holds) payloads once, then paced out by the shard's timer.

use std::sync::Arc;

/// One payload and its length in RTP clock ticks.
pub type Frame = (Arc<[u8]>, u32);

/// A file's payloads in order.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub clock_rate: u32,
    pub frames: Arc<[Frame]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaFileError {
    #[error("not an Ogg file (no OggS page at byte {0})")]
    NotOgg(usize),
    #[error("the Ogg stream is not Opus (no OpusHead)")]
    NotOpus,
    #[error("truncated Ogg page at byte {0}")]
    Truncated(usize),
    #[error("no audio in the file")]
    Empty,
    #[error("unsupported codec '{0}' for a file (opus, pcmu or pcma)")]
    Codec(String),
}

impl MediaFile {
    /// Reads `bytes` as `codec` (`opus`: an Ogg/Opus file; `pcmu`/`pcma`: raw 8 kHz G.711,
    /// cut into 20 ms payloads).
    pub fn parse(codec: &str, bytes: &[u8]) -> Result<Self, MediaFileError> {
        let file = match codec {
            "opus" => Self {
                clock_rate: 48_000,
                frames: ogg_opus(bytes)?.into(),
            },
            "pcmu" | "pcma" => Self {
                clock_rate: 8000,
                frames: bytes
                    .chunks(160)
                    .map(|c| (Arc::from(c), c.len() as u32))
                    .collect::<Vec<_>>()
                    .into(),
            },
            other => return Err(MediaFileError::Codec(other.to_owned())),
        };
        if file.frames.is_empty() {
            return Err(MediaFileError::Empty);
        }
        Ok(file)
    }

    /// Length of one pass in RTP clock ticks.
    pub fn duration_ticks(&self) -> u64 {
        self.frames.iter().map(|(_, d)| u64::from(*d)).sum()
    }
}

/// The Opus packets of an Ogg file, after the two header packets, with their durations at
/// 48 kHz. Packets that span pages are joined; a packet whose duration cannot be read
/// counts as 20 ms.
fn ogg_opus(bytes: &[u8]) -> Result<Vec<Frame>, MediaFileError> {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 27)
            .ok_or(MediaFileError::Truncated(at))?;
        if &header[..4] != b"OggS" {
            return Err(MediaFileError::NotOgg(at));
        }
        let segments = usize::from(header[26]);
        let table = bytes
            .get(at + 27..at + 27 + segments)
            .ok_or(MediaFileError::Truncated(at))?;
        let mut body = at + 27 + segments;
        for &lace in table {
            let lace = usize::from(lace);
            let data = bytes
                .get(body..body + lace)
                .ok_or(MediaFileError::Truncated(at))?;
            partial.extend_from_slice(data);
            body += lace;
            if lace < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at = body;
    }
    let mut packets = packets.into_iter();
    match packets.next() {
        Some(head) if head.starts_with(b"OpusHead") => {}
        _ => return Err(MediaFileError::NotOpus),
    }
    // OpusTags.
    packets.next();
    Ok(packets
        .filter(|p| !p.is_empty())
        .map(|p| {
            let ticks = opus_samples(&p).unwrap_or(960);
            (Arc::from(p), ticks)
        })
        .collect())
}

/// Samples at 48 kHz in an Opus packet (RFC 6716 §3.1): the TOC byte's configuration gives
/// the frame size, its code the number of frames.
pub fn opus_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame: u32 = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let total = frame * frames;
    // At most 120 ms in one packet.
    (total > 0 && total <= 5760).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One Ogg page holding `packets` (each under 255 bytes).
    fn page(packets: &[&[u8]]) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.extend_from_slice(&[0; 22]);
        p.push(packets.len() as u8);
        p.extend(packets.iter().map(|x| x.len() as u8));
        for x in packets {
            p.extend_from_slice(x);
        }
        p
    }

    #[test]
    fn an_ogg_opus_file_gives_its_packets_with_their_durations() {
        let mut file = page(&[b"OpusHead\x01\x02"]);
        file.extend(page(&[b"OpusTags"]));
        // Config 1 (SILK NB 20 ms), code 0; then config 18 (CELT 10 ms), code 1 (two frames).
        file.extend(page(&[&[0x08, 1, 2], &[(18 << 3) | 1, 9]]));
        let f = MediaFile::parse("opus", &file).unwrap();
        assert_eq!(f.frames.len(), 2);
        assert_eq!(f.frames[0].1, 960);
        assert_eq!(f.frames[1].1, 960, "two 10 ms frames");
        assert_eq!(f.duration_ticks(), 1920);
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let err = |codec, bytes: &[u8]| MediaFile::parse(codec, bytes).unwrap_err();
        assert_eq!(err("opus", b"RIFF...."), MediaFileError::Truncated(0));
        assert_eq!(err("opus", &page(&[b"hello"])), MediaFileError::NotOpus);
        let mut cut = page(&[b"OpusHead"]);
        cut.truncate(30);
        assert!(MediaFile::parse("opus", &cut).is_err());
        assert_eq!(err("pcmu", b""), MediaFileError::Empty);
        assert!(matches!(
            MediaFile::parse("vp8", b"x"),
            Err(MediaFileError::Codec(_))
        ));
    }

    #[test]
    fn g711_is_cut_into_20_ms_payloads() {
        let f = MediaFile::parse("pcma", &[0xd5; 400]).unwrap();
        let lens: Vec<u32> = f.frames.iter().map(|(_, d)| *d).collect();
        assert_eq!(lens, [160, 160, 80]);
    }
}
