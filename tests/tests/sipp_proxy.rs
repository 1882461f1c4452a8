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

use std::time::{Duration, Instant};

use cardea_tests::sipp::{self, Sipp, SippArgs, Transport, SIP_YAML, TRACE_SEPARATOR};
use cardea_tests::Cardea;

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

/// One SIPp run of a case, its files in `dir` named after `role` (bob, alice).
#[allow(clippy::too_many_arguments)]
fn spawn_sipp(
    role: &'static str,
    scenario: &str,
    dir: &std::path::Path,
    transport: Transport,
    port: u16,
    auth_uri: &str,
    call_id: &str,
    timeout: &str,
    target: &str,
) -> Sipp {
    SippArgs {
        role,
        scenario,
        dir,
        transport,
        port,
        auth_uri,
        call_id: Some(call_id),
        no_default_bye: true,
        timeout,
        recv_timeout: SIPP_RECV_TIMEOUT,
        kill_after: SIPP_KILL_AFTER,
        target,
    }
    .spawn()
}

/// Whether bob's trace shows the 200 for its authenticated REGISTER.
fn registered(bob: &Sipp) -> bool {
    bob.messages()
        .split(TRACE_SEPARATOR)
        .any(|m| m.contains("SIP/2.0 200 ") && m.contains("REGISTER"))
}

/// The messages in a `-trace_msg` file that start with `first_line` (e.g. `SIP/2.0 200`)
/// and have a CSeq naming `method`.
fn traced<'a>(trace: &'a str, first_line: &str, method: &str) -> Vec<&'a str> {
    trace
        .split(TRACE_SEPARATOR)
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
    let _one_at_a_time = sipp::one_at_a_time();
    let started = Instant::now();
    let mut cardea = Cardea::start(SIP_YAML);
    let target = sipp::sip_listener(&cardea, transport);
    let dir = sipp::scratch_dir(&format!("{}-{}", case.uac, transport.sipp_flag()));
    let call_id = format!(
        "proxy-{}-{}-{}-%u@cardea-tests",
        case.uac,
        transport.sipp_flag(),
        std::process::id()
    );
    let bob_port = sipp::free_port(None);
    let alice_port = sipp::free_port(Some(bob_port));
    let mut problems = Vec::new();

    let mut bob = case.uas.map(|scenario| {
        spawn_sipp(
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
    let mut alice = spawn_sipp(
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
            problems.push(format!("bob's {} failed", bob.scenario()));
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
    sipp::sipp_bin();
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
