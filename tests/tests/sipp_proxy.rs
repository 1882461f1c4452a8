//! Cardea's SIP proxy (RFC 3261 §16) driven by SIPp, which shares no code with Cardea: calls
//! from alice to bob through the real binary, over UDP and over TCP.
//!
//! Each case starts a fresh Cardea (so no binding outlives its case and no INVITE forks to a
//! SIPp that is gone), then bob's SIPp in the background (a `proxy_uas_*` scenario: it
//! REGISTERs with its own address as Contact, then waits for what Cardea forwards), waits
//! until bob's REGISTER got its 200, and runs alice's SIPp (a `proxy_uac_*` scenario) in the
//! foreground. Both must exit 0. Cardea forwards alice's Call-ID unchanged, and SIPp ties
//! incoming requests to a call by Call-ID, so both runs get one `-cid_str`: the INVITE then
//! lands in bob's (client-mode) call, the one that registered.
//!
//! `sipp` must be on PATH (`apt-get install sip-tester`). Every SIPp run is bounded by its own
//! `-timeout … -timeout_error` and a kill from here. A failed case reports both runs' exit
//! status, every SIP message they sent and received (`-trace_msg`), their error logs and
//! Cardea's log.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cardea_tests::Cardea;

/// The same users as the registrar tests: alice with a password, bob with an HA1
/// (hex MD5 of `bob:cardea.test:bobpw`).
const SIP_YAML: &str = "\
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

/// One call: bob's scenario (none: nobody registered) and alice's.
struct Case {
    name: &'static str,
    uas: Option<&'static str>,
    uac: &'static str,
    /// Alice's 200 for the INVITE must carry Record-Route (also checked inside the scenario).
    answered: bool,
    /// Bob must never see an INVITE (also: any message during its pause fails its run).
    unreachable: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "answer, caller hangs up",
        uas: Some("proxy_uas_answer"),
        uac: "proxy_uac_answer",
        answered: true,
        unreachable: false,
    },
    Case {
        name: "answer, callee hangs up",
        uas: Some("proxy_uas_answer_then_bye"),
        uac: "proxy_uac_answer_peer_bye",
        answered: true,
        unreachable: false,
    },
    Case {
        name: "busy",
        uas: Some("proxy_uas_busy"),
        uac: "proxy_uac_busy",
        answered: false,
        unreachable: false,
    },
    Case {
        name: "cancel while ringing",
        uas: Some("proxy_uas_ringing_cancel"),
        uac: "proxy_uac_cancel",
        answered: false,
        unreachable: false,
    },
    Case {
        name: "no credentials",
        uas: Some("proxy_uas_idle"),
        uac: "proxy_uac_no_credentials",
        answered: false,
        unreachable: true,
    },
    Case {
        name: "wrong password",
        uas: Some("proxy_uas_idle"),
        uac: "proxy_uac_wrong_password",
        answered: false,
        unreachable: true,
    },
    Case {
        name: "callee not registered",
        uas: None,
        uac: "proxy_uac_unregistered",
        answered: false,
        unreachable: false,
    },
];

/// SIPp's own bounds: alice's whole run, bob's (which starts first and includes the 3 s
/// pause of `proxy_uas_idle`), and each expected message.
const ALICE_TIMEOUT: &str = "10s";
const BOB_TIMEOUT: &str = "15s";
const SIPP_RECV_TIMEOUT: &str = "5s";
/// The kill from this side, should SIPp itself hang.
const SIPP_KILL_AFTER: Duration = Duration::from_secs(25);
/// How long bob may take to register before alice is started anyway.
const REGISTER_WITHIN: Duration = Duration::from_secs(5);

/// SIPp runs one case at a time, whichever test asks.
static SIPP_LOCK: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn sipp_flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

fn sipp_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`sipp` is not on PATH: these tests drive Cardea's SIP proxy with SIPp. \
                 Install it (Debian/Ubuntu: `apt-get install sip-tester`; .ci/run does) and \
                 run again"
            )
        })
}

fn scenario_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("sipp")
        .join(format!("{name}.xml"));
    assert!(path.is_file(), "scenario {} is missing", path.display());
    path
}

fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cardea-sipp-proxy-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A loopback port free for both UDP and TCP right now, other than `not`: SIPp writes its
/// port in Via and Contact, and bob's Contact is where Cardea sends the INVITE.
fn free_port(not: Option<u16>) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP probe socket");
        let port = udp.local_addr().expect("probe address").port();
        if Some(port) != not && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP after 50 tries");
}

/// One SIPp process, its files under `dir` named after `role` (bob, alice).
struct Sipp {
    role: &'static str,
    scenario: &'static str,
    dir: PathBuf,
    child: Child,
    started: Instant,
    /// Filled by [`Sipp::wait`]: `None` when it had to be killed.
    status: Option<Option<ExitStatus>>,
    elapsed: Duration,
}

impl Sipp {
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        role: &'static str,
        scenario: &'static str,
        dir: &Path,
        transport: Transport,
        port: u16,
        auth_uri: &str,
        call_id: &str,
        timeout: &str,
        target: &str,
    ) -> Sipp {
        let file = |suffix: &str| dir.join(format!("{role}-{suffix}"));
        let screen = std::fs::File::create(file("screen.txt")).expect("creating the screen file");
        let screen_err = screen.try_clone().expect("cloning the screen file");
        let child = Command::new(sipp_bin())
            .current_dir(dir)
            .arg("-sf")
            .arg(scenario_path(scenario))
            .args(["-m", "1"])
            .args(["-i", "127.0.0.1"])
            .args(["-p", &port.to_string()])
            .args(["-t", transport.sipp_flag()])
            .args(["-auth_uri", auth_uri])
            .args(["-cid_str", call_id])
            // No BYE of SIPp's own when a call aborts: it would only blur the trace.
            .args(["-default_behaviors", "all,-bye"])
            .args(["-timeout", timeout, "-timeout_error"])
            .args(["-recv_timeout", SIPP_RECV_TIMEOUT])
            .args(["-trace_err", "-error_file"])
            .arg(file("errors.log"))
            .args(["-trace_msg", "-message_file"])
            .arg(file("messages.log"))
            .arg("-nostdin")
            .arg(target)
            .stdin(Stdio::null())
            .stdout(screen)
            .stderr(screen_err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning sipp: {e}"));
        Sipp {
            role,
            scenario,
            dir: dir.to_owned(),
            child,
            started: Instant::now(),
            status: None,
            elapsed: Duration::ZERO,
        }
    }

    fn file(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.role);
        match std::fs::read(self.dir.join(&name)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => format!("({name}: none)"),
        }
    }

    fn messages(&self) -> String {
        self.file("messages.log")
    }

    /// Waits (bounded by `SIPP_KILL_AFTER` from its start) for it to exit.
    fn wait(&mut self) {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if self.started.elapsed() >= SIPP_KILL_AFTER => {
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

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn succeeded(&self) -> bool {
        matches!(self.status, Some(Some(s)) if s.success())
    }

    fn describe(&self) -> String {
        let status = match self.status {
            Some(Some(s)) => s.to_string(),
            Some(None) => format!("killed after {SIPP_KILL_AFTER:?}"),
            None => "still running".to_owned(),
        };
        let screen = self.file("screen.txt");
        let tail: Vec<&str> = screen.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- {} ({}): {status} after {:?}\n\
             --- {} SIP messages (-trace_msg):\n{}\n\
             --- {} SIPp errors (-trace_err):\n{}\n\
             --- {} SIPp screen (tail):\n{}\n",
            self.role,
            self.scenario,
            self.elapsed,
            self.role,
            self.messages(),
            self.role,
            self.file("errors.log"),
            self.role,
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

/// Whether bob's trace shows the 200 for its authenticated REGISTER.
fn registered(bob: &Sipp) -> bool {
    bob.messages()
        .split("-----------------------------------------------")
        .any(|m| m.contains("SIP/2.0 200 ") && m.contains("REGISTER"))
}

/// The messages in a `-trace_msg` file that start with `first_line` (e.g. `SIP/2.0 200`)
/// and have a CSeq naming `method`.
fn traced<'a>(trace: &'a str, first_line: &str, method: &str) -> Vec<&'a str> {
    trace
        .split("-----------------------------------------------")
        .filter(|m| {
            m.lines()
                .find(|l| l.starts_with("SIP/2.0 ") || l.contains(" sip:"))
                .is_some_and(|l| l.starts_with(first_line))
                && m.lines().any(|l| {
                    l.to_ascii_lowercase().starts_with("cseq:") && l.trim_end().ends_with(method)
                })
        })
        .collect()
}

/// Runs one case against a fresh Cardea; `Err` carries everything needed to see why.
fn run_case(case: &Case, transport: Transport) -> Result<Duration, String> {
    let _one_at_a_time = SIPP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut cardea = Cardea::start(SIP_YAML);
    let target = match transport {
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
    });
    let dir = scratch_dir(&format!("{}-{}", case.uac, transport.sipp_flag()));
    let call_id = format!(
        "proxy-{}-{}-{}-%u@cardea-tests",
        case.uac,
        transport.sipp_flag(),
        std::process::id()
    );
    let bob_port = free_port(None);
    let alice_port = free_port(Some(bob_port));
    let mut problems = Vec::new();

    let mut bob = case.uas.map(|scenario| {
        Sipp::spawn(
            "bob",
            scenario,
            &dir,
            transport,
            bob_port,
            "cardea.test",
            &call_id,
            BOB_TIMEOUT,
            &target,
        )
    });
    if let Some(bob) = bob.as_mut() {
        let deadline = Instant::now() + REGISTER_WITHIN;
        while !registered(bob) && !bob.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !registered(bob) {
            problems.push(format!(
                "bob's REGISTER got no 200 within {REGISTER_WITHIN:?}"
            ));
        }
    }
    // The digest uri SIPp sends is sip:<-auth_uri>; Cardea wants it equal to the
    // Request-URI, sip:bob@cardea.test.
    let mut alice = Sipp::spawn(
        "alice",
        case.uac,
        &dir,
        transport,
        alice_port,
        "bob@cardea.test",
        &call_id,
        ALICE_TIMEOUT,
        &target,
    );
    alice.wait();
    if let Some(bob) = bob.as_mut() {
        bob.wait();
    }

    if !alice.succeeded() {
        problems.push(format!("alice's {} failed", case.uac));
    }
    if let Some(bob) = &bob {
        if !bob.succeeded() {
            problems.push(format!("bob's {} failed", bob.scenario));
        }
    }
    if case.answered {
        let trace = alice.messages();
        let answers = traced(&trace, "SIP/2.0 200", "INVITE");
        if answers.is_empty() {
            problems.push("alice's trace shows no 200 for the INVITE".to_owned());
        }
        for answer in answers {
            let has_rr = answer
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("record-route:") && l.contains(";lr"));
            if !has_rr {
                problems.push(format!(
                    "alice's 200 for the INVITE has no Record-Route with ;lr:\n{answer}"
                ));
            }
        }
    }
    if case.unreachable {
        if let Some(bob) = &bob {
            let trace = bob.messages();
            let invites = traced(&trace, "INVITE ", "INVITE");
            if !invites.is_empty() {
                problems.push(format!(
                    "bob received {} INVITE(s) for an unauthenticated caller:\n{}",
                    invites.len(),
                    invites.join("\n")
                ));
            }
        }
    }
    if let Some(status) = cardea.exited() {
        problems.push(format!("cardea exited ({status})"));
    }

    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(started.elapsed());
    }
    let mut report = format!(
        "=== {} over {} (Cardea at {target}, files in {}): {}\n",
        case.name,
        transport.name(),
        dir.display(),
        problems.join("; ")
    );
    if let Some(bob) = &bob {
        report.push_str(&bob.describe());
    }
    report.push_str(&alice.describe());
    report.push_str(&format!("--- Cardea log:\n{}\n", cardea.logs().join("\n")));
    Err(report)
}

fn run_all(transport: Transport) {
    sipp_bin();
    let mut failed = Vec::new();
    for case in CASES {
        let outcome = run_case(case, transport);
        eprintln!(
            "sipp proxy case {:?} over {}: {}",
            case.name,
            transport.name(),
            match &outcome {
                Ok(took) => format!("ok in {took:?}"),
                Err(_) => "FAILED".to_owned(),
            }
        );
        if let Err(report) = outcome {
            failed.push((case.name, report));
        }
    }
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|(name, _)| *name).collect();
        let reports: Vec<String> = failed.into_iter().map(|(_, r)| r).collect();
        panic!(
            "SIPp calls through Cardea's proxy failed over {}: {}\n{}",
            transport.name(),
            names.join(", "),
            reports.join("\n")
        );
    }
}

#[test]
fn sipp_proxy_over_udp() {
    run_all(Transport::Udp);
}

#[test]
fn sipp_proxy_over_tcp() {
    run_all(Transport::Tcp);
}
