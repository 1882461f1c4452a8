//! Recordings of AudioBridge mixes: 16-bit mono PCM WAV files, written as the samples come
//! and given their final sizes when the recording stops.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct WavWriter {
    path: PathBuf,
    out: BufWriter<File>,
    samples: u64,
}

/// The canonical 44-byte header; the sizes are those of `samples` samples.
fn header(rate: u32, samples: u64) -> [u8; 44] {
    let data = u32::try_from(samples * 2).unwrap_or(u32::MAX - 36);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

impl WavWriter {
    /// Creates `path` (and its folder) for `rate` Hz mono.
    pub fn create(path: &Path, rate: u32) -> Result<Self, String> {
        let file = super::create_file(path)?;
        let mut out = BufWriter::new(file);
        out.write_all(&header(rate, 0))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            out,
            samples: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&mut self, samples: &[i16]) -> Result<(), String> {
        for s in samples {
            self.out
                .write_all(&s.to_le_bytes())
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Writes the final sizes into the header and closes the file.
    pub fn finish(mut self, rate: u32) -> Result<(), String> {
        let name = self.path.display().to_string();
        let fail = |e: std::io::Error| format!("{name}: {e}");
        self.out.flush().map_err(fail)?;
        let mut file = self.out.into_inner().map_err(|e| fail(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(fail)?;
        file.write_all(&header(rate, self.samples)).map_err(fail)?;
        file.sync_data().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_is_a_readable_wav_of_its_samples() {
        let dir = std::env::temp_dir().join(format!("cardea-wav-{}", std::process::id()));
        let path = dir.join("rooms/mix.wav");
        let mut w = WavWriter::create(&path, 16_000).unwrap();
        w.write(&[1, -2, 300]).unwrap();
        w.write(&[4]).unwrap();
        w.finish(16_000).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 44 + 8);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 36 + 8);
        assert_eq!(
            u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
            16_000
        );
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 8);
        assert_eq!(i16::from_le_bytes([bytes[46], bytes[47]]), -2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
