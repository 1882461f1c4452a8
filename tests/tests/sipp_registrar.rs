//! Cardea's SIP registrar driven by SIPp (Debian's `sip-tester`), a SIP tool that shares no
//! code with Cardea: the scenarios in `sipp/` run one after another, over UDP and over TCP,
//! against the real binary. Then a burst of malformed messages over plain UDP and TCP sockets,
//! after which Cardea must still be running and still answer OPTIONS and REGISTER.
//!
//! `sipp` must be on PATH (`apt-get install sip-tester`; `.ci/run` installs it). Each SIPp run
//! is bounded twice: `-timeout 10s -timeout_error` inside SIPp, and a kill from here after 20 s.
//! A failed scenario reports SIPp's exit status, its screen, every SIP message it sent and
//! received (`-trace_msg`), its error log and Cardea's log.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::time::Duration;

use cardea_tests::sipp::{self, Sipp, SippArgs, Transport, SIP_YAML};
use cardea_tests::Cardea;

/// Every scenario, in the order they run. All of them log in to realm `cardea.test` with
/// Request-URI `sip:cardea.test` (SIPp is given `-auth_uri cardea.test` to match).
const SCENARIOS: &[&str] = &[
    "options",
    "register_digest",
    "register_unregister",
    "register_too_brief",
    "register_wrong_password",
    "register_unknown_user",
];

/// SIPp's own bound on the whole run (`-timeout`), and on each expected message.
const SIPP_TIMEOUT: &str = "10s";
const SIPP_RECV_TIMEOUT: &str = "5s";
/// The kill from this side, should SIPp itself hang.
const SIPP_KILL_AFTER: Duration = Duration::from_secs(20);

/// Runs `sipp/<scenario>.xml` once against `target`, in the foreground, bounded.
fn run_sipp(scenario: &str, transport: Transport, target: &str) -> Sipp {
    let _one_at_a_time = sipp::one_at_a_time();
    let dir = sipp::scratch_dir(&format!("{scenario}-{}", transport.sipp_flag()));
    SippArgs {
        role: "sipp",
        scenario,
        dir: &dir,
        transport,
        port: sipp::free_port(None),
        auth_uri: "cardea.test",
        call_id: None,
        no_default_bye: false,
        timeout: SIPP_TIMEOUT,
        recv_timeout: SIPP_RECV_TIMEOUT,
        kill_after: SIPP_KILL_AFTER,
        target,
    }
    .run()
}

/// Runs every scenario in order (all of them, even after a failure) and panics listing the
/// failed ones with their messages and Cardea's log.
fn run_all(cardea: &Cardea, scenarios: &[&str], transport: Transport, target: &str) {
    let mut failed = Vec::new();
    for scenario in scenarios {
        let run = run_sipp(scenario, transport, target);
        eprintln!(
            "sipp {scenario} over {}: {} in {:?}",
            transport.name(),
            if run.succeeded() { "ok" } else { "FAILED" },
            run.elapsed()
        );
        if run.succeeded() {
            let _ = std::fs::remove_dir_all(run.dir());
        } else {
            failed.push(run);
        }
    }
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|r| format!("{} ({})", r.scenario(), r.transport().name()))
            .collect();
        let mut report = String::new();
        for run in &failed {
            report.push_str(&run.describe());
        }
        panic!(
            "SIPp scenarios failed against Cardea at {target}: {}\n{report}\n=== Cardea log:\n{}",
            names.join(", "),
            cardea.logs().join("\n")
        );
    }
}

fn start_cardea() -> (Cardea, String, String) {
    let cardea = Cardea::start(SIP_YAML);
    let udp = sipp::sip_listener(&cardea, Transport::Udp);
    let tcp = sipp::sip_listener(&cardea, Transport::Tcp);
    (cardea, udp, tcp)
}

#[test]
fn sipp_registrar_over_udp() {
    sipp::sipp_bin();
    let (cardea, udp, _) = start_cardea();
    run_all(&cardea, SCENARIOS, Transport::Udp, &udp);
}

#[test]
fn sipp_registrar_over_tcp() {
    sipp::sipp_bin();
    let (cardea, _, tcp) = start_cardea();
    run_all(&cardea, SCENARIOS, Transport::Tcp, &tcp);
}

/// A small deterministic generator, so a failing burst can be replayed byte for byte.
struct XorShift(u64);

impl XorShift {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

/// The top of a plausible request from `via` (our own socket, so any answers come back to
/// us and are only logged), without the blank line that ends the header. `n` names the
/// request: its branch, From tag and Call-ID.
fn request_head(method: &str, via: &str, transport: &str, n: &str) -> String {
    format!(
        "{method} sip:cardea.test SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {via};branch=z9hG4bK-malformed-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@cardea.test>;tag=m{n}\r\n\
         To: <sip:alice@cardea.test>\r\n\
         Call-ID: malformed-{n}@cardea-tests\r\n\
         CSeq: 1 {method}\r\n"
    )
}

/// The malformed messages, each one a datagram over UDP or one connection's bytes over TCP.
/// `burst` keeps the Call-IDs of one burst apart from another's (the same From tag, Call-ID
/// and CSeq on another branch would be a merged request, RFC 3261 §8.2.2.2: 482).
fn malformed_messages(via: &str, transport: &str, burst: &str) -> Vec<(String, Vec<u8>)> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut n = 0;
    let mut head = |method: &str| {
        n += 1;
        request_head(method, via, transport, &format!("{burst}-{n}"))
    };
    for len in [1, 7, 64, 512, 1400, 8000] {
        out.push((format!("{len} random bytes"), rng.bytes(len)));
    }
    out.push((
        "random bytes after a request line".into(),
        [
            b"OPTIONS sip:cardea.test SIP/2.0\r\n".to_vec(),
            rng.bytes(600),
        ]
        .concat(),
    ));
    out.push(("NUL bytes".into(), vec![0; 300]));
    out.push((
        "a lone request line".into(),
        b"OPTIONS sip:cardea.test SIP/2.0\r\n\r\n".to_vec(),
    ));
    out.push((
        "a bad request line".into(),
        b"OPTIONS  SIP/2.0 extra\r\n\r\n".to_vec(),
    ));
    out.push((
        "an unknown SIP version".into(),
        format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS"))
            .replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1)
            .into_bytes(),
    ));
    let truncated = format!("{}Contact: <sip:alice@127.0.0.1:9", head("REGISTER"));
    out.push(("a header cut off mid-line".into(), truncated.into_bytes()));
    let h = head("REGISTER");
    out.push((
        "headers cut off after half the request".into(),
        h.as_bytes()[..h.len() / 2].to_vec(),
    ));
    out.push((
        "a header line without a colon".into(),
        format!(
            "{}This is not a header\r\nContent-Length: 0\r\n\r\n",
            head("OPTIONS")
        )
        .into_bytes(),
    ));
    for (what, value) in [
        ("Content-Length larger than the body", "99999"),
        ("Content-Length beyond u64", "18446744073709551616"),
        ("negative Content-Length", "-1"),
        ("non-numeric Content-Length", "abc"),
        ("Content-Length 4 GiB", "4294967296"),
    ] {
        out.push((
            what.into(),
            format!(
                "{}Content-Type: application/sdp\r\nContent-Length: {value}\r\n\r\nv=0\r\n",
                head("OPTIONS")
            )
            .into_bytes(),
        ));
    }
    out.push((
        "two different Content-Lengths".into(),
        format!(
            "{}Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
            head("OPTIONS")
        )
        .into_bytes(),
    ));
    out.push((
        "a bad Via, CSeq and From".into(),
        "REGISTER sip:cardea.test SIP/2.0\r\nVia: garbage\r\nFrom: <<<\r\nTo: >\r\n\
         Call-ID: x\r\nCSeq: -5 INVITE\r\nContact: <sip:\r\nExpires: 99999999999999999999\r\n\
         Content-Length: 0\r\n\r\n"
            .as_bytes()
            .to_vec(),
    ));
    out.push((
        "no Via, no Call-ID".into(),
        b"OPTIONS sip:cardea.test SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ));
    out.push((
        "a digest Authorization full of junk".into(),
        format!(
            "{}Contact: <sip:alice@127.0.0.1:9>\r\nAuthorization: Digest username=\"alice\", \
             realm=\"cardea.test\", nonce=\"{}\", uri=\"sip:cardea.test\", response=\"zz\", \
             nc=nothex, qop=auth, cnonce=\"\r\nContent-Length: 0\r\n\r\n",
            head("REGISTER"),
            "A".repeat(3000)
        )
        .into_bytes(),
    ));
    out.push((
        "a stray response".into(),
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/{transport} {via};branch=z9hG4bK-nobody\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: stray\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes(),
    ));
    out.push((
        "a huge header value (60 000 bytes)".into(),
        format!(
            "{}X-Huge: {}\r\nContent-Length: 0\r\n\r\n",
            head("OPTIONS"),
            "x".repeat(60_000)
        )
        .into_bytes(),
    ));
    let many: String = (0..3000).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    out.push((
        "3000 headers".into(),
        format!("{}{many}Content-Length: 0\r\n\r\n", head("OPTIONS")).into_bytes(),
    ));
    let deep_via: String = (0..500)
        .map(|i| {
            format!(
                "Via: SIP/2.0/UDP 10.0.0.{}:5060;branch=z9hG4bK{i}\r\n",
                i % 250
            )
        })
        .collect();
    out.push((
        "500 Via headers".into(),
        format!("{}{deep_via}Content-Length: 0\r\n\r\n", head("OPTIONS")).into_bytes(),
    ));
    out.push((
        "invalid UTF-8 in headers".into(),
        [
            head("OPTIONS").into_bytes(),
            b"Subject: \xff\xfe\xc3\x28\x80\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ]
        .concat(),
    ));
    out
}

/// Reads what is there within `wait`; for the log only.
fn drain_udp(socket: &UdpSocket, wait: Duration) -> Vec<String> {
    socket.set_read_timeout(Some(wait)).expect("read timeout");
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        answers.push(text.lines().next().unwrap_or("").to_owned());
    }
    answers
}

/// Every malformed datagram once, logging what came back for each; then twice more as fast as
/// possible (the same bytes: retransmissions, as far as Cardea can tell).
fn udp_burst(target: &str, burst: &str) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP socket");
    let via = socket.local_addr().expect("local address").to_string();
    let messages = malformed_messages(&via, "UDP", burst);
    let mut log = Vec::new();
    for (what, bytes) in &messages {
        match socket.send_to(bytes, target) {
            Ok(_) => log.push(format!(
                "{what}: {:?}",
                drain_udp(&socket, Duration::from_millis(50))
            )),
            Err(e) => log.push(format!("{what}: send failed ({e})")),
        }
    }
    for _ in 0..2 {
        for (_, bytes) in &messages {
            let _ = socket.send_to(bytes, target);
        }
    }
    // An empty datagram, and the CRLF keep-alive of RFC 5626 §3.5.1.
    let _ = socket.send_to(b"", target);
    let _ = socket.send_to(b"\r\n\r\n", target);
    let late = drain_udp(&socket, Duration::from_millis(300));
    eprintln!(
        "UDP burst {burst}: {} malformed datagrams sent three times; answers to the first:\n  {}\n\
         answers to the repeats: {late:?}",
        messages.len(),
        log.join("\n  ")
    );
}

/// Writes `bytes` on a fresh connection, then reads (for the log) until Cardea closes or a
/// short while passes. Cardea may close the connection at any point; that is fine.
fn tcp_send(target: &str, what: &str, bytes: &[u8]) -> String {
    let mut stream = match TcpStream::connect(target) {
        Ok(s) => s,
        Err(e) => panic!("TCP connect to {target} for {what:?} failed: {e}"),
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = stream.set_nodelay(true);
    let written = match stream.write_all(bytes) {
        Ok(()) => "written".to_owned(),
        Err(e) => format!("write cut short ({:?})", e.kind()),
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match stream.read(&mut buf) {
            Ok(0) => break "then Cardea closed",
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break "connection left open"
            }
            Err(_) => break "then Cardea reset the connection",
        }
        if answer.len() > 65_536 {
            break "(answer cut at 64 KiB)";
        }
    };
    let first = String::from_utf8_lossy(&answer);
    format!(
        "{what}: {written}, answer {:?}, {end}",
        first.lines().next().unwrap_or("(none)")
    )
}

fn tcp_burst(target: &str) {
    let via = "127.0.0.1:9";
    let mut log = Vec::new();
    for (what, bytes) in malformed_messages(via, "TCP", "tcp") {
        log.push(tcp_send(target, &what, &bytes));
    }
    // All of them on one connection, one after the other.
    let all: Vec<u8> = malformed_messages(via, "TCP", "tcp-all")
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    log.push(tcp_send(
        target,
        "every malformed message on one connection",
        &all,
    ));
    // A header line that never ends: 16 MiB without CRLF, more than socket buffers hold, so
    // the write finishes only if Cardea keeps reading (and buffering) it.
    let endless = [
        request_head("OPTIONS", via, "TCP", "endless").into_bytes(),
        b"X-Endless: ".to_vec(),
        vec![b'y'; 16 << 20],
    ]
    .concat();
    log.push(tcp_send(
        target,
        "a 16 MiB header line without end",
        &endless,
    ));
    // Content-Length announcing 100 MB, then only a little of it, connection left open a bit.
    log.push(tcp_send(
        target,
        "Content-Length 100 MB with 3 bytes sent",
        format!(
            "{}Content-Length: 100000000\r\n\r\nabc",
            request_head("OPTIONS", via, "TCP", "big-body")
        )
        .as_bytes(),
    ));
    // Connections opened and dropped at once, some half-closed.
    for i in 0..30 {
        if let Ok(s) = TcpStream::connect(target) {
            if i % 2 == 0 {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
    }
    eprintln!("TCP burst:\n  {}", log.join("\n  "));
}

/// A valid OPTIONS over TCP written a few bytes at a time must still be framed and answered.
fn options_in_pieces_over_tcp(target: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(target).map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let local = stream.local_addr().map_err(|e| e.to_string())?.to_string();
    let request = format!(
        "{}Contact: <sip:alice@{local};transport=tcp>\r\nContent-Length: 0\r\n\r\n",
        request_head("OPTIONS", &local, "TCP", "in-pieces")
    );
    for chunk in request.as_bytes().chunks(7) {
        stream.write_all(chunk).map_err(|e| format!("write: {e}"))?;
        std::thread::sleep(Duration::from_millis(2));
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "closed; got {:?}",
                    String::from_utf8_lossy(&answer)
                ))
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Err(format!(
                    "read: {e}; got {:?}",
                    String::from_utf8_lossy(&answer)
                ))
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    if text.starts_with("SIP/2.0 200 ") {
        Ok(text)
    } else {
        Err(format!("not a 200: {text:?}"))
    }
}

fn assert_running(cardea: &mut Cardea, after: &str) {
    // A crash may take a moment to show.
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = cardea.exited() {
        panic!(
            "cardea exited ({status}) after {after}; log:\n{}",
            cardea.logs().join("\n")
        );
    }
}

#[test]
fn malformed_burst_leaves_cardea_answering() {
    sipp::sipp_bin();
    let (mut cardea, udp, tcp) = start_cardea();

    udp_burst(&udp, "udp1");
    assert_running(&mut cardea, "the UDP burst of malformed messages");
    tcp_burst(&tcp);
    assert_running(&mut cardea, "the TCP burst of malformed messages");
    // Once more over UDP, now that TCP connections came and went.
    udp_burst(&udp, "udp2");
    assert_running(&mut cardea, "the second UDP burst");

    let mut problems = String::new();
    match options_in_pieces_over_tcp(&tcp) {
        Ok(answer) => eprintln!(
            "OPTIONS in 7-byte pieces over TCP: {}",
            answer.lines().next().unwrap_or("")
        ),
        Err(e) => {
            let _ = writeln!(problems, "OPTIONS sent in 7-byte pieces over TCP: {e}");
        }
    }

    // The contract: normal OPTIONS and REGISTER still answered, over both transports.
    let after = &["options", "register_digest"];
    let mut failed = Vec::new();
    for (transport, target) in [(Transport::Udp, &udp), (Transport::Tcp, &tcp)] {
        for scenario in after {
            let run = run_sipp(scenario, transport, target);
            if run.succeeded() {
                let _ = std::fs::remove_dir_all(run.dir());
            } else {
                failed.push(run);
            }
        }
    }
    assert_running(&mut cardea, "the SIPp runs after the bursts");
    for run in &failed {
        problems.push_str(&run.describe());
    }
    assert!(
        problems.is_empty(),
        "after the malformed bursts Cardea did not answer as it should:\n{problems}\n\
         === Cardea log:\n{}",
        cardea.logs().join("\n")
    );
}
