//! Running SIPp (Debian's `sip-tester`, which shares no code with Cardea) against the real
//! binary: the `sip` section both SIP test files start Cardea with, free loopback ports, one
//! SIPp at a time, every run bounded twice (`-timeout … -timeout_error` inside SIPp and a kill
//! from here), and what a run left behind (exit status, `-trace_msg`, `-trace_err`, screen)
//! for the report of a failure.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::Cardea;

/// The `sip` section of the contract: one user with a password, one with an HA1
/// (hex MD5 of `bob:cardea.test:bobpw`).
pub const SIP_YAML: &str = "\
sip:
  bind: 127.0.0.1
  udp_port: 0
  tcp_port: 0
  realm: cardea.test
  users:
    - username: alice
      password: alicepw
    - username: bob
      ha1: 929fe0afaef893966264df66c0413924
";

/// The separator between two messages in a `-trace_msg` file.
pub const TRACE_SEPARATOR: &str = "-----------------------------------------------";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// SIPp's `-t` value: one socket for the one call.
    pub fn sipp_flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Cardea's SIP listener for `transport`; panics (with Cardea's log) when it announced none.
pub fn sip_listener(cardea: &Cardea, transport: Transport) -> String {
    match transport {
        Transport::Udp => cardea.listeners.sip_udp.clone(),
        Transport::Tcp => cardea.listeners.sip_tcp.clone(),
    }
    .unwrap_or_else(|| {
        panic!(
            "CARDEA_READY names no SIP {} listener although the config has a sip section; \
             log:\n{}",
            transport.name(),
            cardea.logs().join("\n")
        )
    })
}

/// SIPp runs one at a time (one run, or one case of several runs), whichever test asks: hold
/// the guard for as long as that lasts.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SIPP_LOCK: Mutex<()> = Mutex::new(());
    SIPP_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `sipp` executable on PATH; panics with what to install when there is none.
pub fn sipp_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`sipp` is not on PATH: these tests drive Cardea's SIP side with SIPp. \
                 Install it (Debian/Ubuntu: `apt-get install sip-tester`; .ci/run does) and \
                 run again"
            )
        })
}

/// `sipp/<name>.xml` at the top of the workspace; asserts it exists.
pub fn scenario_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("sipp")
        .join(format!("{name}.xml"));
    assert!(path.is_file(), "scenario {} is missing", path.display());
    path
}

/// A fresh directory under the system temp dir for the files of one run (or case).
pub fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cardea-sipp-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A loopback port free for both UDP and TCP right now, other than `not`, for SIPp's `-p`:
/// SIPp puts its port in Via and Contact (where Cardea sends what it forwards), and would
/// otherwise try 5060 first.
pub fn free_port(not: Option<u16>) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP probe socket");
        let port = udp.local_addr().expect("probe address").port();
        if Some(port) != not && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP after 50 tries");
}

/// How to run one scenario once (`-m 1`) from `127.0.0.1`.
pub struct SippArgs<'a> {
    /// Names its files in `dir` (`<role>-messages.log`, …) and its part of a report.
    pub role: &'static str,
    /// `sipp/<scenario>.xml`.
    pub scenario: &'a str,
    pub dir: &'a Path,
    pub transport: Transport,
    /// The local port (`-p`), from [`free_port`].
    pub port: u16,
    /// `-auth_uri`: the digest uri is `sip:<auth_uri>`. Empty: no `-auth_uri` (SIPp then
    /// uses `sip:<remote ip>:<port>` in its own digests, and `verifyauth` checks a digest
    /// against the `uri` in its Authorization header).
    pub auth_uri: &'a str,
    /// `-cid_str`, when the Call-ID matters.
    pub call_id: Option<&'a str>,
    /// `-default_behaviors all,-bye`: no BYE of SIPp's own when a call aborts.
    pub no_default_bye: bool,
    /// SIPp's bound on the whole run (`-timeout`) and on each expected message
    /// (`-recv_timeout`).
    pub timeout: &'a str,
    pub recv_timeout: &'a str,
    /// The kill from this side, should SIPp itself hang.
    pub kill_after: Duration,
    /// Cardea's SIP listener, `ip:port`.
    pub target: &'a str,
}

impl SippArgs<'_> {
    /// Starts SIPp in the background.
    pub fn spawn(&self) -> Sipp {
        self.spawn_with(&[])
    }

    /// Starts SIPp in the background with `extra` options (`-rtp_echo`, `-s alice`, …)
    /// after the usual ones.
    pub fn spawn_with(&self, extra: &[&str]) -> Sipp {
        let file = |suffix: &str| self.dir.join(format!("{}-{suffix}", self.role));
        let screen = std::fs::File::create(file("screen.txt")).expect("creating the screen file");
        let screen_err = screen.try_clone().expect("cloning the screen file");
        let mut command = Command::new(sipp_bin());
        command
            .current_dir(self.dir)
            .arg("-sf")
            .arg(scenario_path(self.scenario))
            .args(["-m", "1"])
            .args(["-i", "127.0.0.1"])
            .args(["-p", &self.port.to_string()])
            .args(["-t", self.transport.sipp_flag()]);
        if !self.auth_uri.is_empty() {
            command.args(["-auth_uri", self.auth_uri]);
        }
        if let Some(call_id) = self.call_id {
            command.args(["-cid_str", call_id]);
        }
        if self.no_default_bye {
            // No BYE of SIPp's own when a call aborts: it would only blur the trace.
            command.args(["-default_behaviors", "all,-bye"]);
        }
        let child = command
            .args(["-timeout", self.timeout, "-timeout_error"])
            .args(["-recv_timeout", self.recv_timeout])
            .args(["-trace_err", "-error_file"])
            .arg(file("errors.log"))
            .args(["-trace_msg", "-message_file"])
            .arg(file("messages.log"))
            .arg("-nostdin")
            .args(extra)
            .arg(self.target)
            .stdin(Stdio::null())
            .stdout(screen)
            .stderr(screen_err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning sipp: {e}"));
        Sipp {
            role: self.role,
            scenario: self.scenario.to_owned(),
            transport: self.transport,
            dir: self.dir.to_owned(),
            child,
            started: Instant::now(),
            kill_after: self.kill_after,
            status: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Runs SIPp in the foreground, bounded.
    pub fn run(&self) -> Sipp {
        let mut sipp = self.spawn();
        sipp.wait();
        sipp
    }
}

/// One SIPp process; killed when dropped before [`Sipp::wait`].
pub struct Sipp {
    role: &'static str,
    scenario: String,
    transport: Transport,
    dir: PathBuf,
    child: Child,
    started: Instant,
    kill_after: Duration,
    /// Filled by [`Sipp::wait`]: `None` when it had to be killed.
    status: Option<Option<ExitStatus>>,
    elapsed: Duration,
}

impl Sipp {
    pub fn scenario(&self) -> &str {
        &self.scenario
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The directory its files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// From its start to its exit (once waited for).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Waits (bounded by `kill_after` from its start) for it to exit.
    pub fn wait(&mut self) {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if self.started.elapsed() >= self.kill_after => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for sipp: {e}"),
            }
        };
        self.elapsed = self.started.elapsed();
        self.status = Some(status);
    }

    /// Whether it has exited by now (without waiting).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waited for, and exited 0.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(Some(s)) if s.success())
    }

    fn file(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.role);
        match std::fs::read(self.dir.join(&name)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => format!("({name}: none)"),
        }
    }

    /// Every SIP message it sent and received so far (`-trace_msg`).
    pub fn messages(&self) -> String {
        self.file("messages.log")
    }

    /// The status, the messages exchanged, SIPp's error log and the tail of its screen.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(Some(s)) => s.to_string(),
            Some(None) => format!("killed after {:?}", self.kill_after),
            None => "still running".to_owned(),
        };
        let screen = self.file("screen.txt");
        let tail: Vec<&str> = screen.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let role = self.role;
        format!(
            "--- {role}: sipp {} over {}: {status} after {:?} (files in {})\n\
             --- {role} SIP messages (-trace_msg):\n{}\n\
             --- {role} SIPp errors (-trace_err):\n{}\n\
             --- {role} SIPp screen (tail):\n{}\n",
            self.scenario,
            self.transport.name(),
            self.elapsed,
            self.dir.display(),
            self.messages(),
            self.file("errors.log"),
            tail.join("\n"),
        )
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
