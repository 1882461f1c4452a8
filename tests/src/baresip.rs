//! Running baresip (Debian's `baresip` 1.0, a softphone that shares no code with Cardea) as a
//! real phone: `tests/baresip/config` filled in and written, with an `accounts` file, into a
//! directory of the test's, on a free loopback UDP port. It auto-answers
//! (`answermode=auto`), offers and accepts PCMU and PCMA only, does not register (unless
//! started with a [`Registration`]), says a tone from a WAV file the test wrote
//! ([`write_tone_wav`]) and records what it hears (the `sndfile` module: `dump-…-dec.wav`). It
//! is driven through its `ctrl_tcp` module (netstring JSON commands such as `dial` and
//! `hangup`, and events such as `CALL_ESTABLISHED` and `CALL_CLOSED` back), and runs with
//! `-s`, so its log holds every SIP message it sent and received.
//!
//! Bounded: it quits by itself after [`QUIT_AFTER`] (`-t`), and is stopped when dropped
//! (SIGTERM, SIGKILL 3 s later). It stays in the test's process group, so a Ctrl-C of the
//! test run reaches it too.
//!
//! Also here: G.711 μ-law, WAV reading and writing, and [`ToneStats`] (level and pitch), which
//! the tests use to tell a tone from silence on both sides of a call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long it may take to print `baresip is ready.` and accept a ctrl_tcp connection.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// How long it may take to stop after SIGTERM before SIGKILL.
const STOP_WITHIN: Duration = Duration::from_secs(3);
/// How long a ctrl_tcp command may take to be answered.
const COMMAND_WITHIN: Duration = Duration::from_secs(5);
/// baresip's own bound on its life (`-t`), should nothing else stop it.
pub const QUIT_AFTER: Duration = Duration::from_secs(150);
/// Where Debian puts its modules (the multiarch path is tried too).
const MODULE_PATHS: &[&str] = &[
    "/usr/lib/baresip/modules",
    "/usr/lib/x86_64-linux-gnu/baresip/modules",
    "/usr/lib/aarch64-linux-gnu/baresip/modules",
    "/usr/local/lib/baresip/modules",
];
/// How often a registering account re-registers (`regint`): longer than any test.
const REGISTER_EVERY: Duration = Duration::from_secs(600);
/// The modules the config loads; each must be installed.
const MODULES: &[&str] = &[
    "g711", "aufile", "aubridge", "sndfile", "account", "menu", "ctrl_tcp",
];

/// One SIP message from baresip's `-s` trace.
#[derive(Debug, Clone)]
pub struct Traced {
    /// Sent by baresip (rather than received).
    pub sent: bool,
    /// `ip:port` it came from and went to.
    pub from: String,
    pub to: String,
    /// The message, lines joined with `\n`.
    pub text: String,
}

impl Traced {
    /// The request or status line.
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// A request of `method` (`INVITE sip:…`).
    pub fn is_request(&self, method: &str) -> bool {
        self.first_line()
            .strip_prefix(method)
            .is_some_and(|rest| rest.starts_with(' '))
    }

    /// A response with status `code` in a transaction of `method` (its CSeq).
    pub fn is_response(&self, code: u16, method: &str) -> bool {
        self.first_line()
            .strip_prefix("SIP/2.0 ")
            .is_some_and(|rest| rest.starts_with(&format!("{code} ")))
            && self.text.lines().any(|l| {
                l.split_once(':').is_some_and(|(n, v)| {
                    n.trim().eq_ignore_ascii_case("CSeq")
                        && v.split_whitespace().nth(1) == Some(method)
                })
            })
    }
}

/// An account that registers ([`Baresip::start_with`]): `sip:<user>@<domain>` with digest
/// credentials (the user and `password`), every request through `outbound`, re-registering
/// every 600 s.
pub struct Registration<'a> {
    pub domain: &'a str,
    pub password: &'a str,
    /// The outbound proxy, also the registrar (`sip:<ip>:<port>`).
    pub outbound: &'a str,
}

/// A running baresip; stopped when dropped.
pub struct Baresip {
    child: Child,
    /// Its account's user ([`Baresip::uri`]).
    pub user: String,
    /// Its account's URI.
    uri: String,
    /// Its SIP port (UDP) on 127.0.0.1.
    pub sip_port: u16,
    /// Its ctrl_tcp port on 127.0.0.1.
    pub ctrl_port: u16,
    /// Its configuration directory, where it also records calls.
    pub dir: PathBuf,
    ctrl: TcpStream,
    /// Everything ctrl_tcp sent: responses and events, in order.
    ctrl_messages: Arc<Mutex<Vec<Value>>>,
    logs: Arc<Mutex<Vec<String>>>,
    next_token: u64,
    started: Instant,
}

impl Baresip {
    /// Starts baresip as `user` (`sip:<user>@127.0.0.1:<sip_port>`, not registering), saying
    /// `wav` (8 kHz mono 16-bit), its configuration in `<dir>/baresip-<user>`, on free ports
    /// (none of `not`). Waits (at most 15 s) until it is ready and its ctrl_tcp answers;
    /// panics, with its log, when it is not.
    pub fn start(dir: &Path, user: &str, wav: &Path, not: &[u16]) -> Baresip {
        Baresip::start_with(dir, user, wav, not, None)
    }

    /// [`Baresip::start`], with the account `registration` when there is one: `user` at its
    /// domain, registering as soon as it starts. That can be before ctrl_tcp is connected, so
    /// its `REGISTER_OK` event may be missed: [`Baresip::messages`] holds the REGISTERs.
    pub fn start_with(
        dir: &Path,
        user: &str,
        wav: &Path,
        not: &[u16],
        registration: Option<&Registration>,
    ) -> Baresip {
        let bin = baresip_bin();
        let module_path = module_path();
        let dir = dir.join(format!("baresip-{user}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let (sip_port, ctrl_port) = free_ports(not);
        let template = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("baresip")
            .join("config");
        let config = std::fs::read_to_string(&template)
            .unwrap_or_else(|e| panic!("reading {}: {e}", template.display()))
            .replace("@SIP_PORT@", &sip_port.to_string())
            .replace("@CTRL_PORT@", &ctrl_port.to_string())
            .replace("@WAV@", &wav.display().to_string())
            .replace("@DIR@", &dir.display().to_string())
            .replace("@MODULE_PATH@", &module_path.display().to_string());
        write(&dir.join("config"), &config);
        // No registration (regint=0) unless `registration`; auto answer, G.711 only, plain
        // RTP.
        let (uri, account) = match registration {
            None => {
                let uri = format!("sip:{user}@127.0.0.1:{sip_port}");
                let account = format!("<{uri}>;regint=0");
                (uri, account)
            }
            Some(r) => {
                let uri = format!("sip:{user}@{}", r.domain);
                let account = format!(
                    "<{uri}>;auth_pass={};outbound=\"{}\";regint={}",
                    r.password,
                    r.outbound,
                    REGISTER_EVERY.as_secs()
                );
                (uri, account)
            }
        };
        write(
            &dir.join("accounts"),
            &format!("{account};answermode=auto;audio_codecs=PCMU,PCMA\n"),
        );

        let mut child = Command::new(&bin)
            .arg("-f")
            .arg(&dir)
            // SIP trace, verbose, and quit by itself at the latest after QUIT_AFTER.
            .args(["-s", "-v", "-t", &QUIT_AFTER.as_secs().to_string()])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || read_log(stream, &logs));
        }
        let started = Instant::now();
        let ctrl = match wait_ready(&mut child, &logs, ctrl_port) {
            Ok(ctrl) => ctrl,
            Err(e) => {
                let status = stop(&mut child);
                panic!(
                    "baresip did not come up on 127.0.0.1:{sip_port} ({e}; {status}); its \
                     config is in {}; log:\n{}",
                    dir.display(),
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        let ctrl_messages = Arc::new(Mutex::new(Vec::new()));
        {
            let reader = ctrl.try_clone().expect("cloning the ctrl_tcp socket");
            let messages = Arc::clone(&ctrl_messages);
            std::thread::spawn(move || read_netstrings(reader, &messages));
        }
        Baresip {
            child,
            user: user.to_owned(),
            uri,
            sip_port,
            ctrl_port,
            dir,
            ctrl,
            ctrl_messages,
            logs,
            next_token: 1,
            started,
        }
    }

    /// Its account's URI: `sip:<user>@127.0.0.1:<sip_port>`, or `sip:<user>@<domain>` when it
    /// registers.
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// Sends the ctrl_tcp command `command` with `params` (as `/command params` on its
    /// console) and waits (at most 5 s) for its response; `Err` when it fails or none comes.
    pub async fn command(&mut self, command: &str, params: &str) -> Result<Value, String> {
        let token = format!("cardea-tests-{}", self.next_token);
        self.next_token += 1;
        let body = json!({"command": command, "params": params, "token": token}).to_string();
        self.ctrl
            .write_all(format!("{}:{body},", body.len()).as_bytes())
            .map_err(|e| format!("sending {body} to ctrl_tcp: {e}"))?;
        let deadline = Instant::now() + COMMAND_WITHIN;
        loop {
            let response = self
                .ctrl_messages
                .lock()
                .unwrap()
                .iter()
                .find(|m| m["response"] == true && m["token"] == token.as_str())
                .cloned();
            match response {
                Some(r) if r["ok"] == true => return Ok(r),
                Some(r) => return Err(format!("baresip refused {body}: {r}")),
                None if Instant::now() >= deadline => {
                    return Err(format!("no response to {body} within {COMMAND_WITHIN:?}"))
                }
                None => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// Every ctrl_tcp event so far (`{"event":true,"type":"CALL_…",…}`), in order.
    pub fn events(&self) -> Vec<Value> {
        self.ctrl_messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m["event"] == true)
            .cloned()
            .collect()
    }

    /// The first ctrl_tcp event of `kind` (`CALL_ESTABLISHED`, `CALL_CLOSED`, …), waiting up
    /// to `within`; `None` when none came.
    pub async fn wait_event(&self, kind: &str, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(event) = self.events().into_iter().find(|e| e["type"] == kind) {
                return Some(event);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The recording of what it heard in its (latest) call, `dump-…-dec.wav`, once there is
    /// one.
    pub fn heard(&self) -> Option<PathBuf> {
        self.dump("-dec.wav")
    }

    /// The recording of what it said in its (latest) call, `dump-…-enc.wav`.
    pub fn said(&self) -> Option<PathBuf> {
        self.dump("-enc.wav")
    }

    fn dump(&self, suffix: &str) -> Option<PathBuf> {
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with(suffix))
            })
            .collect();
        // The names hold the call's start time.
        dumps.sort();
        dumps.pop()
    }

    /// Every line it printed so far (colours and its once-a-second status line left out).
    pub fn log(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Every SIP message it sent and received so far (its `-s` trace).
    pub fn messages(&self) -> Vec<Traced> {
        let logs = self.logs.lock().unwrap();
        let mut messages = Vec::new();
        let mut lines = logs.iter().peekable();
        while let Some(line) = lines.next() {
            if line != "#" {
                continue;
            }
            // "UDP 127.0.0.1:A -> 127.0.0.1:B"
            let Some(head) = lines.next() else { break };
            let words: Vec<&str> = head.split_whitespace().collect();
            let [_, from, "->", to] = words[..] else {
                continue;
            };
            // The header, an empty line, and Content-Length bytes of body (CRLF lines).
            let mut text: Vec<&str> = Vec::new();
            let mut body_left: Option<usize> = None;
            while let Some(next) = lines.peek() {
                if *next == "#" {
                    break;
                }
                match body_left {
                    None if next.is_empty() => body_left = Some(content_length(&text)),
                    Some(0) => break,
                    Some(ref mut left) => *left = left.saturating_sub(next.len() + 2),
                    None => {}
                }
                text.push(lines.next().unwrap().as_str());
            }
            let from = from.to_owned();
            let to = to.to_owned();
            let sent = from == format!("127.0.0.1:{}", self.sip_port);
            messages.push(Traced {
                sent,
                from,
                to,
                text: text.join("\n").trim_end().to_owned(),
            });
        }
        messages
    }

    /// For a report: its ports, uptime, the ctrl_tcp messages and its whole log.
    pub fn describe(&self) -> String {
        let ctrl = self
            .ctrl_messages
            .lock()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "--- baresip {} (ctrl_tcp 127.0.0.1:{}, config {}), up {:?}; its ctrl_tcp \
             messages:\n{ctrl}\n--- its log (SIP messages after `#` and `UDP from -> to`):\n{}\n",
            self.uri(),
            self.ctrl_port,
            self.dir.display(),
            self.started.elapsed(),
            self.log()
        )
    }

    /// Whether it has exited (it should not, before it is dropped).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The Content-Length of a message's header lines (0 when absent).
fn content_length(header: &[&str]) -> usize {
    header
        .iter()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| {
            let n = n.trim();
            n.eq_ignore_ascii_case("Content-Length") || n.eq_ignore_ascii_case("l")
        })
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A SIP port whose UDP and TCP (and TLS: the next TCP port) are free, and a ctrl_tcp port.
fn free_ports(not: &[u16]) -> (u16, u16) {
    for _ in 0..50 {
        let sip = crate::sipp::free_port(None);
        let Some(tls) = sip.checked_add(1) else {
            continue;
        };
        if not.contains(&sip)
            || not.contains(&tls)
            || TcpListener::bind(("127.0.0.1", tls)).is_err()
        {
            continue;
        }
        let ctrl = crate::sipp::free_port(None);
        if ![sip, tls].contains(&ctrl) && !not.contains(&ctrl) {
            return (sip, ctrl);
        }
    }
    panic!("no loopback ports free for baresip after 50 tries");
}

/// Until `baresip is ready.` is logged and ctrl_tcp accepts a connection.
fn wait_ready(
    child: &mut Child,
    logs: &Mutex<Vec<String>>,
    ctrl_port: u16,
) -> Result<TcpStream, String> {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        let ready = logs
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("baresip is ready."));
        if ready {
            if let Ok(ctrl) = TcpStream::connect(("127.0.0.1", ctrl_port)) {
                return Ok(ctrl);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "not ready (`baresip is ready.` and ctrl_tcp on 127.0.0.1:{ctrl_port}) within \
         {READY_WITHIN:?}"
    ))
}

/// SIGTERM (it hangs up and quits), SIGKILL after [`STOP_WITHIN`]; says how it ended.
fn stop(child: &mut Child) -> String {
    if let Ok(Some(status)) = child.try_wait() {
        return format!("exited: {status}");
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + STOP_WITHIN;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return format!("stopped: {status}"),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return format!("killed after {STOP_WITHIN:?}");
            }
        }
    }
}

/// Keeps the lines of `stream`, split at `\n` and `\r`, without ANSI colours and without the
/// menu module's status line (`[0:00:03] audio=64000/64000 (bit/s)`, redrawn with `\r`).
fn read_log(stream: Box<dyn Read + Send>, logs: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&raw);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        let mut logs = logs.lock().unwrap();
        for part in text.split('\r') {
            let line = strip_ansi(part);
            // A colour change alone (the end of a SIP trace entry).
            if line.is_empty() && part.contains('\u{1b}') {
                continue;
            }
            let line = line.trim_end();
            if is_status_line(line) {
                continue;
            }
            // A status line redrawn in front of a log line.
            let line = line.rsplit("(bit/s)").next().unwrap_or(line).trim_start();
            logs.push(line.to_owned());
        }
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_status_line(line: &str) -> bool {
    line.starts_with("[0:") && line.ends_with("(bit/s)")
}

/// Reads ctrl_tcp's netstrings (`<length>:<json>,`) into `messages` until the socket closes.
fn read_netstrings(mut stream: TcpStream, messages: &Mutex<Vec<Value>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        while let Some((value, used)) = parse_netstring(&buffer) {
            buffer.drain(..used);
            messages.lock().unwrap().push(value);
        }
    }
}

/// One netstring at the start of `buffer`, parsed as JSON (or kept as a string when it is
/// not), and the bytes it took; `None` until it is complete.
fn parse_netstring(buffer: &[u8]) -> Option<(Value, usize)> {
    let colon = buffer.iter().position(|b| *b == b':')?;
    let length: usize = std::str::from_utf8(&buffer[..colon]).ok()?.parse().ok()?;
    let end = colon + 1 + length;
    if buffer.len() <= end {
        return None;
    }
    let body = &buffer[colon + 1..end];
    let value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    Some((value, end + 1))
}

/// `baresip` on PATH; panics with what to install when there is none, or when a module the
/// config loads is missing.
pub fn baresip_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("baresip"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no baresip on PATH: these tests use baresip as a phone. Install it \
                 (Debian/Ubuntu: `apt-get install baresip`; .ci/run does) and run again"
            )
        })
}

fn module_path() -> PathBuf {
    let dir = MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("g711.so").is_file())
        .unwrap_or_else(|| {
            panic!("no baresip modules in any of {MODULE_PATHS:?} (apt-get install baresip)")
        });
    for module in MODULES {
        let file = dir.join(format!("{module}.so"));
        assert!(
            file.is_file(),
            "baresip's {module} module is missing ({})",
            file.display()
        );
    }
    dir
}

// --- Audio: G.711 μ-law, WAV files and tones.

/// A G.711 μ-law byte as a 16-bit linear sample (ITU-T G.711; 0xFF and 0x7F are silence).
pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A 16-bit linear sample as a G.711 μ-law byte.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(CLIP) + BIAS;
    // The highest set bit is 7 (exponent 0) to 14 (exponent 7).
    let exponent = (31 - (x as u32).leading_zeros() - 7).min(7) as i32;
    let mantissa = (x >> (exponent + 3)) & 0x0f;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// `seconds` of a sine of `frequency` Hz at `amplitude`, sampled at `rate`.
pub fn tone(frequency: f64, amplitude: f64, rate: u32, seconds: f64) -> Vec<i16> {
    let count = (f64::from(rate) * seconds) as usize;
    (0..count)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amplitude * (2.0 * std::f64::consts::PI * frequency * t).sin()) as i16
        })
        .collect()
}

/// Writes `samples` as a mono 16-bit PCM WAV file at `rate`.
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let data = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + data as usize);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Writes `seconds` of a `frequency` Hz tone (a quarter of full scale) as an 8 kHz mono
/// 16-bit WAV file, what baresip's `aufile` plays for PCMU.
pub fn write_tone_wav(path: &Path, frequency: f64, seconds: f64) {
    write_wav(path, 8000, &tone(frequency, 8000.0, 8000, seconds));
}

/// The sample rate and samples of a mono 16-bit PCM WAV file. A `data` chunk still being
/// written (its size not yet filled in) is read to the end of the file.
pub fn read_wav(path: &Path) -> Result<(u32, Vec<i16>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let what = |e: &str| format!("{}: {e}", path.display());
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(what("not a RIFF WAVE file"));
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 16 <= bytes.len() {
            let u16_at = |o: usize| u16::from_le_bytes([bytes[body + o], bytes[body + o + 1]]);
            let rate = u32::from_le_bytes(bytes[body + 4..body + 8].try_into().unwrap());
            format = Some((u16_at(0), u16_at(2), rate, u16_at(14)));
        } else if id == b"data" {
            let Some((1, 1, rate, 16)) = format else {
                return Err(what(&format!(
                    "not mono 16-bit PCM (format, channels, rate, bits: {format:?})"
                )));
            };
            let end = if size == 0 || body + size > bytes.len() {
                bytes.len()
            } else {
                body + size
            };
            let samples = bytes[body..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((rate, samples));
        }
        at = body + size + (size & 1);
    }
    Err(what("no data chunk"))
}

/// The level and pitch of some audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneStats {
    pub seconds: f64,
    /// Root mean square, of 32767 (a full-scale sine: 23170; μ-law silence: 0).
    pub rms: f64,
    /// Upward zero crossings per second: a pure tone's frequency.
    pub frequency: f64,
}

impl ToneStats {
    /// The stats of `samples` at `rate`.
    pub fn of(samples: &[i16], rate: u32) -> ToneStats {
        let seconds = samples.len() as f64 / f64::from(rate);
        if samples.is_empty() {
            return ToneStats {
                seconds,
                rms: 0.0,
                frequency: 0.0,
            };
        }
        let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        let rms = (energy / samples.len() as f64).sqrt();
        let crossings = samples.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        ToneStats {
            seconds,
            rms,
            frequency: crossings as f64 / seconds,
        }
    }

    /// At least `min_seconds` long, louder than silence (RMS above 1000) and within 10 % of
    /// `frequency`.
    pub fn is_tone(&self, frequency: f64, min_seconds: f64) -> bool {
        self.seconds >= min_seconds
            && self.rms > 1000.0
            && (self.frequency - frequency).abs() <= frequency / 10.0
    }
}

impl std::fmt::Display for ToneStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} s, RMS {:.0}, {:.1} Hz",
            self.seconds, self.rms, self.frequency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_silence_and_round_trips() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        for s in [-32000i16, -8000, -1000, -100, -5, 5, 100, 1000, 8000, 32000] {
            let back = ulaw_decode(ulaw_encode(s));
            // μ-law keeps about 4 bits of mantissa: within 1/16 plus the bias step.
            assert!(
                (i32::from(back) - i32::from(s)).abs() <= i32::from(s).abs() / 16 + 8,
                "{s} → {back}"
            );
        }
    }

    #[test]
    fn a_tone_is_measured_through_ulaw_and_a_wav_file() {
        let samples: Vec<i16> = tone(440.0, 8000.0, 8000, 2.0)
            .into_iter()
            .map(|s| ulaw_decode(ulaw_encode(s)))
            .collect();
        let stats = ToneStats::of(&samples, 8000);
        assert!(stats.is_tone(440.0, 1.9), "{stats}");
        assert!((stats.rms - 8000.0 / 2f64.sqrt()).abs() < 200.0, "{stats}");
        assert!(!ToneStats::of(&[0; 16000], 8000).is_tone(440.0, 1.0));

        let dir = std::env::temp_dir().join(format!("cardea-baresip-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.wav");
        write_tone_wav(&path, 1000.0, 0.5);
        let (rate, read) = read_wav(&path).unwrap();
        assert_eq!((rate, read.len()), (8000, 4000));
        assert!(ToneStats::of(&read, rate).is_tone(1000.0, 0.5));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn netstrings_are_split_and_parsed() {
        let buffer = b"11:{\"ok\":true},3:abc,4:{\"a\"";
        let (first, used) = parse_netstring(buffer).unwrap();
        assert_eq!(first, json!({"ok": true}));
        let (second, used2) = parse_netstring(&buffer[used..]).unwrap();
        assert_eq!(second, json!("abc"));
        assert!(parse_netstring(&buffer[used + used2..]).is_none());
    }

    #[test]
    fn log_lines_lose_colours_and_status_lines() {
        assert_eq!(strip_ansi("\u{1b}[36;1m#"), "#");
        assert_eq!(strip_ansi("\u{1b}[;m"), "");
        assert!(is_status_line("[0:00:03] audio=64000/64000 (bit/s)"));
    }
}
