//! The writer thread of Janus recordings (`.mjr`): the control plane creates each file and
//! hands it over; media shards send the bytes their recorders gathered (a buffer per
//! recording every 100 ms or 64 KiB, never a write per packet); the last chunk of a
//! recording closes its file. File I/O stays off the shard threads and the core loop.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use cardea_media::RecordChunk;

enum ToWriter {
    Open { id: u64, path: PathBuf, file: File },
    Chunk(RecordChunk),
}

/// The way to the writer thread; clones share it.
#[derive(Clone)]
pub struct MjrFiles {
    tx: crossbeam_channel::Sender<ToWriter>,
}

struct Open {
    path: PathBuf,
    file: File,
    bytes: u64,
}

impl MjrFiles {
    /// Starts the writer thread; it ends when every `MjrFiles` is gone.
    pub fn spawn() -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("mjr-writer".into())
            .spawn(move || run(rx))?;
        Ok(Self { tx })
    }

    /// Creates the file of recording `id`; the shard's chunks for `id` go into it.
    pub fn open(&self, id: u64, path: &Path) -> Result<(), String> {
        let file = super::create_file(path)?;
        let _ = self.tx.send(ToWriter::Open {
            id,
            path: path.to_owned(),
            file,
        });
        Ok(())
    }

    /// Bytes of a recording, from a shard thread.
    pub fn write(&self, chunk: RecordChunk) {
        let _ = self.tx.send(ToWriter::Chunk(chunk));
    }
}

fn run(rx: crossbeam_channel::Receiver<ToWriter>) {
    let mut files: HashMap<u64, Open> = HashMap::new();
    while let Ok(input) = rx.recv() {
        match input {
            ToWriter::Open { id, path, file } => {
                files.insert(
                    id,
                    Open {
                        path,
                        file,
                        bytes: 0,
                    },
                );
            }
            ToWriter::Chunk(chunk) => {
                let Some(open) = files.get_mut(&chunk.id) else {
                    continue;
                };
                if let Err(e) = open.file.write_all(&chunk.bytes) {
                    tracing::warn!(path = %open.path.display(), "recording stopped: {e}");
                    files.remove(&chunk.id);
                    continue;
                }
                open.bytes += chunk.bytes.len() as u64;
                if chunk.last {
                    if let Some(done) = files.remove(&chunk.id) {
                        if let Err(e) = done.file.sync_data() {
                            tracing::warn!(path = %done.path.display(), "recording not synced: {e}");
                        }
                        tracing::info!(
                            path = %done.path.display(),
                            bytes = done.bytes,
                            "recording closed"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use cardea_media::{MjrInfo, RecordedKind, RecordedRtp, Recorder};

    use super::*;

    #[test]
    fn chunks_of_a_recording_land_in_its_file_in_order() {
        let dir = std::env::temp_dir().join(format!("cardea-mjr-{}", std::process::id()));
        let path = dir.join("rec/a.mjr");
        let files = MjrFiles::spawn().unwrap();
        files.open(9, &path).unwrap();
        let now = Instant::now();
        let info = MjrInfo {
            kind: RecordedKind::Audio,
            codec: "opus".into(),
            fmtp: None,
            description: None,
            created_us: 1,
        };
        let mut r = Recorder::new(9, info, None, now);
        let pkt = RecordedRtp {
            ssrc: 1,
            seq: 1,
            ts: 0,
            pt: 111,
            marker: false,
            payload: &[7; 10],
        };
        r.write_rtp(now, &pkt);
        let first = r.take().unwrap();
        let expected_first = first.bytes.clone();
        files.write(first);
        r.write_rtp(now, &pkt);
        files.write(r.finish());
        // An unknown recording's bytes go nowhere.
        files.write(RecordChunk {
            id: 10,
            bytes: vec![1],
            last: true,
        });
        let until = Instant::now() + Duration::from_secs(5);
        let bytes = loop {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.len() == expected_first.len() + 32 {
                break bytes;
            }
            assert!(Instant::now() < until, "{} bytes written", bytes.len());
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(bytes.starts_with(&expected_first));
        assert_eq!(&bytes[expected_first.len()..][..4], b"MEET");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
