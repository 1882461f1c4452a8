//! SIP over TLS (RFC 3261 §26, `sip.tls_port`) and over secure WebSocket (RFC 7118 §5,
//! `sip.wss_port`) against the real binary, with a self-signed certificate made at test time
//! (rcgen) that the clients here trust.
//!
//! SIPp drives the TLS listener through a relay in this file: Debian's `sip-tester` is built
//! without OpenSSL (`sipp -t l1` answers "To use a TLS transport you must compile SIPp with
//! OpenSSL"), so SIPp speaks TCP to the relay and the relay speaks TLS to Cardea (rustls,
//! verifying Cardea's certificate). Cardea sees a TLS connection and answers on it; SIPp's
//! Via says TCP, which Cardea echoes and does not route by. The WSS client is
//! tokio-tungstenite over rustls; the other TLS clients are plain rustls streams.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardea_tests::sipp::{self, Sipp, SippArgs, Transport, SIP_YAML};
use cardea_tests::Cardea;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Bound on every exchange with Cardea from here.
const WITHIN: Duration = Duration::from_secs(10);
/// SIPp's own bounds, and the kill from here (as in sipp_registrar.rs).
const SIPP_TIMEOUT: &str = "10s";
const SIPP_RECV_TIMEOUT: &str = "5s";
const SIPP_KILL_AFTER: Duration = Duration::from_secs(20);

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files for Cardea and as
/// DER for the clients' trust store.
struct TestCert {
    dir: PathBuf,
    cert_pem: PathBuf,
    key_pem: PathBuf,
    der: CertificateDer<'static>,
}

impl TestCert {
    fn new() -> TestCert {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .expect("rcgen makes a self-signed certificate");
        let dir = sipp::scratch_dir("tls-cert");
        let cert_pem = dir.join("cert.pem");
        let key_pem = dir.join("key.pem");
        std::fs::write(&cert_pem, certified.cert.pem()).expect("writing cert.pem");
        std::fs::write(&key_pem, certified.signing_key.serialize_pem()).expect("writing key.pem");
        TestCert {
            dir,
            cert_pem,
            key_pem,
            der: certified.cert.der().clone(),
        }
    }

    /// A TLS client that trusts this certificate only (ALPN as given).
    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.der.clone())
            .expect("the test certificate is a usable trust anchor");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Cardea with the SIPp users, TLS and WSS on free ports, and where those listen.
struct Secure {
    cardea: Cardea,
    tls: SocketAddr,
    wss: SocketAddr,
}

fn start_cardea(cert: &TestCert) -> Secure {
    let yaml = format!(
        "{SIP_YAML}  tls_port: 0\n  wss_port: 0\n  tls_cert: {}\n  tls_key: {}\n",
        cert.cert_pem.display(),
        cert.key_pem.display()
    );
    let cardea = Cardea::start(&yaml);
    let ready = ready_line(&cardea);
    let field = |name: &str| -> SocketAddr {
        ready[name]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "CARDEA_READY has no {name} although tls_port and wss_port are set: {ready}\n\
                     log:\n{}",
                    cardea.logs().join("\n")
                )
            })
    };
    let tls = field("sip_tls");
    let wss = field("sip_wss");
    Secure { cardea, tls, wss }
}

/// The JSON of the `CARDEA_READY` line (the listeners it names beyond the helper's).
fn ready_line(cardea: &Cardea) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = cardea
            .logs()
            .iter()
            .find_map(|l| l.strip_prefix("CARDEA_READY ").map(str::to_owned));
        if let Some(json) = found {
            return serde_json::from_str(&json).expect("CARDEA_READY carries JSON");
        }
        assert!(Instant::now() < deadline, "no CARDEA_READY line in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn tls_connect(
    connector: &TlsConnector,
    to: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(to).await?;
    let name = ServerName::IpAddress(to.ip().into());
    connector.connect(name, tcp).await
}

/// A TCP→TLS relay on a free loopback port: each TCP connection is carried over a fresh
/// TLS connection to `target` (verifying its certificate), both ways, until either closes.
struct Relay {
    addr: SocketAddr,
    /// Connections whose TLS handshake with Cardea succeeded.
    handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr, connector: TlsConnector) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the relay");
        let addr = listener.local_addr().expect("relay address");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&handshakes);
        let task = tokio::spawn(async move {
            while let Ok((mut plain, _)) = listener.accept().await {
                let connector = connector.clone();
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    match tls_connect(&connector, target).await {
                        Ok(mut tls) => {
                            counted.fetch_add(1, Ordering::SeqCst);
                            let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
                        }
                        Err(e) => eprintln!("relay: TLS to Cardea at {target} failed: {e}"),
                    }
                });
            }
        });
        Relay {
            addr,
            handshakes,
            task,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `sipp/<scenario>.xml` once over TCP to `target` (the relay), bounded.
fn run_sipp(scenario: &str, target: &str) -> Sipp {
    let _one_at_a_time = sipp::one_at_a_time();
    let dir = sipp::scratch_dir(&format!("{scenario}-tls"));
    SippArgs {
        role: "sipp",
        scenario,
        dir: &dir,
        transport: Transport::Tcp,
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

/// Runs a SIPp scenario through the relay to Cardea's TLS port; panics with SIPp's and
/// Cardea's story unless it passed over TLS.
fn sipp_over_tls(scenario: &str) {
    sipp::sipp_bin();
    let cert = TestCert::new();
    let secure = start_cardea(&cert);
    let rt = runtime();
    let relay = rt.block_on(Relay::start(secure.tls, cert.connector(&[])));
    let run = run_sipp(scenario, &relay.addr.to_string());
    let handshakes = relay.handshakes.load(Ordering::SeqCst);
    if !run.succeeded() || handshakes == 0 {
        panic!(
            "sipp {scenario} over TLS (relay {} → Cardea {}): {handshakes} TLS handshakes\n{}\n\
             === Cardea log:\n{}",
            relay.addr,
            secure.tls,
            run.describe(),
            secure.cardea.logs().join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(run.dir());
}

#[test]
fn sipp_register_digest_over_tls() {
    sipp_over_tls("register_digest");
}

#[test]
fn sipp_options_over_tls() {
    sipp_over_tls("options");
}

/// An OPTIONS request with a Via of `transport` at `sent_by`; `n` names it.
fn options(transport: &str, sent_by: &str, n: &str) -> String {
    format!(
        "OPTIONS sip:cardea.test SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bK-tls-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@cardea.test>;tag=tls-{n}\r\n\
         To: <sip:cardea.test>\r\n\
         Call-ID: tls-{n}@cardea-tests\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Reads one SIP message (header section, then Content-Length bytes of body) from `stream`.
async fn read_message<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let body_len = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let name = name.trim();
                    (name.eq_ignore_ascii_case("content-length") || name == "l")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + body_len {
                return Ok(String::from_utf8_lossy(&buf[..end + 4 + body_len]).into_owned());
            }
        }
        let n = tokio::time::timeout(WITHIN, stream.read(&mut chunk))
            .await
            .map_err(|_| format!("no complete message within {WITHIN:?}; got {buf:?}"))?
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed before a complete message; got {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends an OPTIONS on a fresh TLS connection and returns the response.
async fn options_over_tls(
    connector: &TlsConnector,
    to: SocketAddr,
    n: &str,
) -> Result<String, String> {
    let mut tls = tls_connect(connector, to)
        .await
        .map_err(|e| format!("TLS connect to {to}: {e}"))?;
    let local = tls.get_ref().0.local_addr().map_err(|e| e.to_string())?;
    tls.write_all(options("TLS", &local.to_string(), n).as_bytes())
        .await
        .map_err(|e| format!("writing OPTIONS: {e}"))?;
    read_message(&mut tls).await
}

fn assert_200(response: &str, branch: &str, what: &str, cardea: &Cardea) {
    assert!(
        response.starts_with("SIP/2.0 200 ") && response.contains(branch),
        "{what}: expected 200 to our OPTIONS, got:\n{response}\n=== Cardea log:\n{}",
        cardea.logs().join("\n")
    );
}

#[test]
fn wss_options_answered_200() {
    let cert = TestCert::new();
    let secure = start_cardea(&cert);
    let rt = runtime();
    let response = rt.block_on(async {
        let tls = tls_connect(&cert.connector(&[b"http/1.1"]), secure.wss)
            .await
            .unwrap_or_else(|e| panic!("TLS connect to the WSS port {}: {e}", secure.wss));
        let mut request = format!("wss://{}/", secure.wss)
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "sip".parse().expect("header value"),
        );
        let (mut ws, upgrade) =
            tokio::time::timeout(WITHIN, tokio_tungstenite::client_async(request, tls))
                .await
                .expect("WebSocket handshake within bounds")
                .unwrap_or_else(|e| panic!("WebSocket handshake over TLS: {e}"));
        assert_eq!(
            upgrade
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some("sip"),
            "RFC 7118 §4.1: the server selects subprotocol sip"
        );
        // RFC 7118 §5.2: an invented host in Via; responses come back on this WebSocket.
        ws.send(Message::Text(
            options("WSS", "df7jal23ls0d.invalid", "wss").into(),
        ))
        .await
        .expect("sending OPTIONS over WSS");
        loop {
            let frame = tokio::time::timeout(WITHIN, ws.next())
                .await
                .expect("a response within bounds")
                .expect("the WebSocket stays open")
                .expect("a WebSocket frame");
            match frame {
                Message::Text(t) => break t.to_string(),
                Message::Binary(b) => break String::from_utf8_lossy(&b).into_owned(),
                Message::Close(c) => panic!("Cardea closed the WebSocket: {c:?}"),
                _ => continue,
            }
        }
    });
    assert_200(
        &response,
        "z9hG4bK-tls-wss",
        "OPTIONS over WSS",
        &secure.cardea,
    );
    assert!(
        response.contains("SIP/2.0/WSS df7jal23ls0d.invalid"),
        "the response carries our Via:\n{response}"
    );
}

/// Reads until the peer closes; Err if it is still open after `WITHIN`.
async fn closed_by_peer<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(format!("still open after {WITHIN:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
            // A TLS alert, or a 400 before closing: keep reading until the close.
            Ok(Ok(_)) => continue,
        }
    }
}

#[test]
fn tls_garbage_is_closed_and_tls_keeps_serving() {
    let cert = TestCert::new();
    let mut secure = start_cardea(&cert);
    let connector = cert.connector(&[]);
    let rt = runtime();
    rt.block_on(async {
        // Not TLS at all: plain SIP and binary noise to the TLS port. The handshake fails
        // and only that connection closes.
        for (what, bytes) in [
            (
                "plain SIP",
                options("TCP", "127.0.0.1:9", "plain").into_bytes(),
            ),
            (
                "binary noise",
                (0..2048u32).map(|i| (i * 37 % 251) as u8).collect(),
            ),
        ] {
            let mut tcp = TcpStream::connect(secure.tls).await.expect("TCP connect");
            tcp.write_all(&bytes).await.expect("writing garbage");
            if let Err(e) = closed_by_peer(&mut tcp).await {
                panic!("{what} to the TLS port: the connection is {e}");
            }
        }
        // A good handshake, then bytes that are not SIP: the framer cannot resync, so
        // Cardea closes the connection (close_notify, FIN).
        let mut tls = tls_connect(&connector, secure.tls)
            .await
            .expect("TLS connect");
        tls.write_all(b"\x16\x03 this is not SIP at all\r\n\xff\xfe\r\n\r\n")
            .await
            .expect("writing garbage over TLS");
        if let Err(e) = closed_by_peer(&mut tls).await {
            panic!("garbage over TLS: the connection is {e}");
        }
        // A TLS connection that stalls mid-handshake does not stop others either.
        let _stalled = TcpStream::connect(secure.tls).await.expect("TCP connect");
        let response = options_over_tls(&connector, secure.tls, "after-garbage")
            .await
            .unwrap_or_else(|e| panic!("OPTIONS over TLS after the garbage: {e}"));
        assert_200(
            &response,
            "z9hG4bK-tls-after-garbage",
            "OPTIONS over TLS after the garbage",
            &secure.cardea,
        );
    });
    assert!(
        secure.cardea.exited().is_none(),
        "Cardea exited after garbage on its TLS port"
    );
}

#[test]
fn tls_crlf_keepalive_gets_a_pong_and_the_connection_stays() {
    let cert = TestCert::new();
    let secure = start_cardea(&cert);
    let connector = cert.connector(&[]);
    let rt = runtime();
    let response = rt.block_on(async {
        let mut tls = tls_connect(&connector, secure.tls)
            .await
            .expect("TLS connect");
        // RFC 5626 §4.4.1: a CRLFCRLF ping is answered with a CRLF pong.
        tls.write_all(b"\r\n\r\n").await.expect("writing the ping");
        let mut pong = [0u8; 2];
        tokio::time::timeout(WITHIN, tls.read_exact(&mut pong))
            .await
            .expect("a pong within bounds")
            .expect("reading the pong");
        assert_eq!(&pong, b"\r\n", "the pong is one CRLF");
        // The same connection still carries SIP.
        let local = tls.get_ref().0.local_addr().expect("local address");
        tls.write_all(options("TLS", &local.to_string(), "after-ping").as_bytes())
            .await
            .expect("writing OPTIONS");
        read_message(&mut tls)
            .await
            .unwrap_or_else(|e| panic!("OPTIONS after the ping: {e}"))
    });
    assert_200(
        &response,
        "z9hG4bK-tls-after-ping",
        "OPTIONS after a keepalive",
        &secure.cardea,
    );
}

/// A TLS server for Cardea to connect to as a trunk, with `cert` as its certificate.
fn trunk_acceptor(cert: &TestCert) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&cert.key_pem)
        .expect("the test key reads back");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], key)
        .expect("the test certificate and key match");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Cardea opens TLS connections toward trunks (`;transport=tls`), verifying their
/// certificate against `sip.tls_ca`: the trunk whose certificate chains to it gets Cardea's
/// OPTIONS probe over TLS (Via `SIP/2.0/TLS`) and answers it; the one presenting a
/// certificate from elsewhere gets no SIP at all (the handshake fails on Cardea's side,
/// which logs it).
#[test]
fn cardea_connects_to_a_tls_trunk_and_verifies_its_certificate() {
    let cert = TestCert::new();
    let stranger = TestCert::new();
    runtime().block_on(async {
        let good = TcpListener::bind("127.0.0.1:0").await.expect("binding the trunk");
        let rogue = TcpListener::bind("127.0.0.1:0").await.expect("binding the rogue trunk");
        let good_at = good.local_addr().expect("address");
        let rogue_at = rogue.local_addr().expect("address");
        // Calls from the trunks would come from other addresses: nothing here is trusted.
        let yaml = format!(
            "{SIP_YAML}  tls_port: 0\n  tls_cert: {}\n  tls_key: {}\n  tls_ca: {}\n  trunks:\n\
             \x20   - name: good\n      uri: \"sip:{good_at};transport=tls\"\n      inbound: [127.0.0.9]\n      probe: 1\n\
             \x20   - name: rogue\n      uri: \"sip:{rogue_at};transport=tls\"\n      inbound: [127.0.0.8]\n      probe: 1\n",
            cert.cert_pem.display(),
            cert.key_pem.display(),
            cert.cert_pem.display(),
        );
        let cardea = Cardea::start(&yaml);
        let accepted = trunk_acceptor(&cert);
        let good_trunk = async {
            let (tcp, _) = good.accept().await.map_err(|e| e.to_string())?;
            let mut tls = accepted.accept(tcp).await.map_err(|e| e.to_string())?;
            let options = read_message(&mut tls).await?;
            let head: Vec<&str> = options
                .lines()
                .filter(|l| {
                    ["via:", "from:", "to:", "call-id:", "cseq:"]
                        .iter()
                        .any(|h| l.to_ascii_lowercase().starts_with(h))
                })
                .collect();
            let answer = format!(
                "SIP/2.0 200 OK\r\n{}\r\nContent-Length: 0\r\n\r\n",
                head.join("\r\n")
            );
            tls.write_all(answer.as_bytes()).await.map_err(|e| e.to_string())?;
            Ok::<String, String>(options)
        };
        let options = tokio::time::timeout(WITHIN, good_trunk)
            .await
            .unwrap_or_else(|_| Err(format!("no TLS connection with an OPTIONS within {WITHIN:?}")));
        let options = options.unwrap_or_else(|e| {
            panic!("the good trunk: {e}\nCardea's log:\n{}", cardea.logs().join("\n"))
        });
        assert!(
            options.starts_with(&format!("OPTIONS sip:{good_at} SIP/2.0"))
                && options.contains("Via: SIP/2.0/TLS "),
            "Cardea's probe over TLS names the trunk and a TLS Via:\n{options}"
        );
        // The rogue trunk's certificate is not from sip.tls_ca.
        let refused = trunk_acceptor(&stranger);
        let rogue_trunk = async {
            let (tcp, _) = rogue.accept().await.map_err(|e| e.to_string())?;
            let mut tls = refused.accept(tcp).await.map_err(|e| e.to_string())?;
            read_message(&mut tls).await
        };
        match tokio::time::timeout(WITHIN, rogue_trunk).await {
            Ok(Ok(message)) => panic!("Cardea sent SIP to a trunk it cannot verify:\n{message}"),
            Ok(Err(e)) => eprintln!("the rogue trunk got no SIP: {e}"),
            Err(_) => panic!("Cardea never tried the rogue trunk within {WITHIN:?}"),
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while !cardea
            .logs()
            .iter()
            .any(|l| l.contains("SIP TLS connection failed") && l.contains(&rogue_at.to_string()))
        {
            assert!(
                Instant::now() < deadline,
                "Cardea's log should say the TLS connection to {rogue_at} failed:\n{}",
                cardea.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
