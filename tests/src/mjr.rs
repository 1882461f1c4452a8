//! Janus recordings (`.mjr`) in tests: read back as janus-pp-rec reads them, and through
//! janus-pp-rec itself (Debian's janus-tools), which shares no code with Cardea.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A folder of its own for one test's recordings.
pub fn fresh_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cardea-mjr-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads a `.mjr` as janus-pp-rec does (MJR00002, the JSON header, "MEET" frames): the
/// header and the number of frames, each an RTP version 2 packet (or, in a data recording,
/// a message after its time).
pub fn read_mjr(path: &Path) -> (Value, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 10,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"MJR00002", "{}", path.display());
    let len = usize::from(u16::from_be_bytes([bytes[8], bytes[9]]));
    let header: Value = serde_json::from_slice(&bytes[10..10 + len])
        .unwrap_or_else(|e| panic!("{}: header: {e}", path.display()));
    let mut at = 10 + len;
    let mut frames = 0;
    let mut last_ms = 0;
    while at < bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"MEET", "{} at {at}", path.display());
        let ms = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        assert!(ms >= last_ms, "{}: frame times go back", path.display());
        last_ms = ms;
        let n = usize::from(u16::from_be_bytes([bytes[at + 8], bytes[at + 9]]));
        assert!(
            at + 10 + n <= bytes.len(),
            "{}: a truncated frame",
            path.display()
        );
        if header["t"] != "d" {
            assert_eq!(bytes[at + 10] >> 6, 2, "{}: not RTP", path.display());
        }
        frames += 1;
        at += 10 + n;
    }
    for key in ["s", "u"] {
        assert!(
            header[key]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000_000_000),
            "{header}"
        );
    }
    (header, frames)
}

/// `janus-pp-rec --json`: the header as Janus's tool reads it.
pub fn pp_rec_header(path: &Path, kind: &str, codec: &str) {
    let out = Command::new("janus-pp-rec")
        .arg("--json")
        .arg(path)
        .output()
        .expect("janus-pp-rec (Debian package janus-tools) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "janus-pp-rec --json {}: {text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json_start = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON from janus-pp-rec: {text}"));
    let header: Value = serde_json::from_str(text[json_start..].trim())
        .unwrap_or_else(|e| panic!("janus-pp-rec --json printed {text}: {e}"));
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some(kind), Some(codec)),
        "{header}"
    );
}

/// Runs janus-pp-rec with `args`, which must succeed; its output (stdout, then stderr).
fn pp_rec(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("janus-pp-rec")
        .args(args)
        .output()
        .expect("janus-pp-rec (Debian package janus-tools) runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "janus-pp-rec {args:?}: {log}");
    log
}

/// `janus-pp-rec --parse`: the RTP packets Janus's tool counts in the file.
pub fn pp_rec_count(path: &Path) -> usize {
    let log = pp_rec(&["--parse".as_ref(), path.as_os_str()]);
    log.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Counted ")?
                .strip_suffix(" RTP packets")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "janus-pp-rec --parse {} counted nothing: {log}",
                path.display()
            )
        })
}

/// Converts a recording with janus-pp-rec and checks the result is not empty.
pub fn pp_rec_convert(path: &Path, target: &Path) {
    let _ = std::fs::remove_file(target);
    let log = pp_rec(&[path.as_os_str(), target.as_os_str()]);
    let size = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    assert!(size > 100, "{} is {size} bytes: {log}", target.display());
}

/// `got` frames for `sent` packets: loopback loses little, and the edges of a recording
/// (start and stop land between packets) cost a few.
pub fn assert_close(got: usize, sent: usize, what: &str) {
    let slack = sent / 10 + 5;
    assert!(
        got + slack >= sent && got <= sent + slack,
        "{what}: {got} for {sent} sent"
    );
}
