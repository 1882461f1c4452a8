//! Running Kamailio (Debian's `kamailio` 5.6, which shares no code with Cardea) as a SIP peer:
//! a config of `tests/kamailio/` (`registrar-proxy.cfg` for [`Kamailio::start`]) on a loopback
//! UDP port, every SIP message it receives and sends logged on its stderr (the config's
//! `SIPDUMP`), kept for assertions and for the report of a failure. Stopped when dropped:
//! SIGTERM to its main process (which stops its workers), SIGKILL to it and its workers after
//! 3 s. It stays in the test's process group, so a Ctrl-C of the test run reaches it too.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where Debian installs it.
const KAMAILIO_BIN: &str = "/usr/sbin/kamailio";
/// How long it may take to answer its first OPTIONS.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// How long it may take to stop after SIGTERM before SIGKILL.
const STOP_WITHIN: Duration = Duration::from_secs(3);

/// One SIP message as Kamailio's `event_route[sipdump:msg]` logged it.
#[derive(Debug, Clone)]
pub struct Dumped {
    /// Received (`rcv`) or sent (`snd`) by Kamailio.
    pub sent: bool,
    /// `ip:port` it came from and went to.
    pub from: String,
    pub to: String,
    /// The message, lines joined with `\n`.
    pub text: String,
}

impl Dumped {
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

    /// A response (`SIP/2.0 <code> …`) in a transaction of `method` (its CSeq).
    pub fn is_response_to(&self, method: &str) -> bool {
        self.first_line().starts_with("SIP/2.0 ") && self.cseq_method() == Some(method)
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        self.first_line()
            .strip_prefix("SIP/2.0 ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<&str> {
        let rest = self.first_line().strip_prefix("SIP/2.0 ")?;
        Some(rest.split_once(' ').map_or("", |(_, reason)| reason))
    }

    /// The values of every header field named `name` (case-insensitive; compact forms are
    /// not expanded).
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.text
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
            })
            .collect()
    }

    pub fn has_header(&self, name: &str) -> bool {
        !self.headers(name).is_empty()
    }

    /// The method named in CSeq.
    pub fn cseq_method(&self) -> Option<&str> {
        self.headers("CSeq")
            .first()
            .and_then(|v| v.split_whitespace().nth(1))
    }
}

/// A running Kamailio; stopped when dropped.
pub struct Kamailio {
    child: Child,
    /// The IP of its UDP listener.
    pub ip: String,
    /// Its UDP port.
    pub port: u16,
    config: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    started: Instant,
    /// Print its log when dropped ([`Kamailio::log_unless_passed`], [`Kamailio::passed`]).
    log_when_dropped: bool,
}

impl Kamailio {
    /// Starts `tests/kamailio/registrar-proxy.cfg` on a free UDP port of 127.0.0.1 (not
    /// `not`), its run directory under `dir`, and waits (at most 15 s) until it answers an
    /// OPTIONS. Panics, with its log, when it does not.
    pub fn start(dir: &Path, not: Option<u16>) -> Kamailio {
        let port = crate::sipp::free_port(not);
        Kamailio::start_config(dir, "registrar-proxy.cfg", "127.0.0.1", port, &[])
    }

    /// Starts `tests/kamailio/<config>` listening on UDP `ip:port`, with `SIPDUMP` and each of
    /// `defines` defined (`-A NAME`, or `-A NAME=value` when it has a value: a string value
    /// carries its own double quotes), its run directory `kamailio-<config's stem>-run` under
    /// `dir`, and waits (at most 15 s) until it answers an OPTIONS (the config must answer
    /// one for itself with a 200). Panics, with its log, when it does not.
    pub fn start_config(
        dir: &Path,
        config: &str,
        ip: &str,
        port: u16,
        defines: &[(&str, Option<String>)],
    ) -> Kamailio {
        let bin = kamailio_bin();
        let config = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("kamailio")
            .join(config);
        assert!(config.is_file(), "{} is missing", config.display());
        let stem = config.file_stem().unwrap_or_default().to_string_lossy();
        let run_dir = dir.join(format!("kamailio-{stem}-run"));
        std::fs::create_dir_all(&run_dir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", run_dir.display()));
        let mut command = Command::new(&bin);
        command
            .arg("-f")
            .arg(&config)
            // In the foreground (its workers are its children), logging to stderr.
            .args(["-DD", "-E"])
            .args(["-l", &format!("udp:{ip}:{port}")])
            .arg("-Y")
            .arg(&run_dir)
            .arg("-w")
            .arg(&run_dir)
            // Shared and per-process memory (MB): plenty for a few calls.
            .args(["-m", "32", "-M", "4"])
            .args(["-A", "SIPDUMP"]);
        for (name, value) in defines {
            let define = match value {
                Some(value) => format!("{name}={value}"),
                None => name.to_string(),
            };
            command.args(["-A", &define]);
        }
        let mut child = command
            .current_dir(&run_dir)
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
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock()
                        .unwrap()
                        .push(line.trim_end_matches('\r').to_owned());
                }
            });
        }
        let mut kamailio = Kamailio {
            child,
            ip: ip.to_owned(),
            port,
            config,
            logs,
            started: Instant::now(),
            log_when_dropped: false,
        };
        if let Err(e) = kamailio.wait_ready() {
            let status = kamailio.stop();
            panic!(
                "Kamailio did not come up on {} ({e}; {status}); log:\n{}",
                kamailio.address(),
                kamailio.log()
            );
        }
        kamailio
    }

    /// `<ip>:<port>`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Has its log ([`Kamailio::describe`]) printed when it is dropped, unless
    /// [`Kamailio::passed`] was called by then: for a Kamailio the test keeps itself, which no
    /// case's report of a failure holds.
    pub fn log_unless_passed(mut self) -> Kamailio {
        self.log_when_dropped = true;
        self
    }

    /// The test got what it needed: no log when it is dropped.
    pub fn passed(&mut self) {
        self.log_when_dropped = false;
    }

    /// Sends OPTIONS (the config answers `200 Keepalive`) until one is answered.
    fn wait_ready(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + READY_WITHIN;
        let mut attempt = 0;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited: {status}"));
            }
            attempt += 1;
            let options = format!(
                "OPTIONS sip:{address} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK-ready-{attempt};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:probe@127.0.0.1>;tag=ready\r\n\
                 To: <sip:{address}>\r\n\
                 Call-ID: ready-{port}@cardea-tests\r\n\
                 CSeq: {attempt} OPTIONS\r\n\
                 Content-Length: 0\r\n\r\n",
                address = self.address(),
                port = self.port
            );
            let _ = socket.send_to(options.as_bytes(), (self.ip.as_str(), self.port));
            let mut buf = [0u8; 2048];
            if let Ok((n, _)) = socket.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    return Ok(());
                }
            }
        }
        Err(format!("no 200 to OPTIONS within {READY_WITHIN:?}"))
    }

    /// Every line it printed so far.
    pub fn log(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Every SIP message it received and sent so far, in the order logged (the readiness
    /// probes left out). Several worker processes log; each message is one line group.
    pub fn messages(&self) -> Vec<Dumped> {
        let logs = self.logs.lock().unwrap();
        let mut messages = Vec::new();
        let mut lines = logs.iter();
        while let Some(line) = lines.next() {
            let Some(start) = line.find("[kamailio rcv ").or(line.find("[kamailio snd ")) else {
                continue;
            };
            let Some(head) = line[start + 1..].strip_suffix("] >>>") else {
                continue;
            };
            // "kamailio rcv 127.0.0.1:A -> 127.0.0.1:B"
            let mut words = head.split_whitespace().skip(1);
            let sent = words.next() == Some("snd");
            let from = words.next().unwrap_or("").to_owned();
            let to = words.nth(1).unwrap_or("").to_owned();
            let mut text = Vec::new();
            for line in lines.by_ref() {
                if line == "<<<" {
                    break;
                }
                text.push(line.as_str());
            }
            let message = Dumped {
                sent,
                from,
                to,
                text: text.join("\n").trim_end().to_owned(),
            };
            let probe = message
                .headers("Call-ID")
                .first()
                .is_some_and(|c| c.starts_with("ready-"));
            if !probe {
                messages.push(message);
            }
        }
        messages
    }

    /// For a report: its address, config, uptime and whole log.
    pub fn describe(&self) -> String {
        format!(
            "--- kamailio on {} ({}), up {:?}; its log (every SIP message between \
             `[kamailio rcv|snd from -> to] >>>` and `<<<`):\n{}\n",
            self.address(),
            self.config.display(),
            self.started.elapsed(),
            self.log()
        )
    }

    /// SIGTERM to the main process (it stops its workers), SIGKILL to it and to the workers
    /// it had after [`STOP_WITHIN`]; says how it ended.
    fn stop(&mut self) -> String {
        if let Ok(Some(status)) = self.child.try_wait() {
            return format!("exited: {status}");
        }
        // Known before the main process goes (they are then reparented).
        let workers = children_of(self.child.id());
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + STOP_WITHIN;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // It stops its workers before it exits; none should be left.
                    for worker in still_kamailio(&workers) {
                        signal(worker, "KILL");
                    }
                    return format!("stopped: {status}");
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    for worker in still_kamailio(&workers) {
                        signal(worker, "KILL");
                    }
                    return format!("killed after {STOP_WITHIN:?}");
                }
            }
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
        if self.log_when_dropped {
            eprintln!("{}", self.describe());
        }
    }
}

/// `kill -<signal> <pid>`.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The processes whose parent is `parent` (from `/proc/<pid>/stat`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // "<pid> (<comm>) <state> <ppid> …"; comm may hold spaces.
                    let after = &stat[stat.rfind(')')? + 1..];
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Those of `pids` still running as `kamailio` (not a reused pid).
fn still_kamailio(pids: &[u32]) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "kamailio")
        })
        .collect()
}

/// `/usr/sbin/kamailio`, or `kamailio` on PATH; panics with what to install when there is
/// none.
pub fn kamailio_bin() -> PathBuf {
    if Path::new(KAMAILIO_BIN).is_file() {
        return PathBuf::from(KAMAILIO_BIN);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kamailio"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no kamailio ({KAMAILIO_BIN} or on PATH): these tests use Kamailio as a \
                 registrar and proxy. Install it (Debian/Ubuntu: `apt-get install kamailio`; \
                 .ci/run does) and run again"
            )
        })
}
