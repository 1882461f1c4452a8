//! Requests that do not parse, sent to the real binary over UDP: when their Via, From, To,
//! Call-ID and CSeq can be read, they get a 400 whose reason names the fault (RFC 3261 §8.2,
//! §16.3), sent back to where they came from; the endpoint goes on answering.

use std::net::UdpSocket;
use std::time::Duration;

use cardea_tests::sipp::SIP_YAML;
use cardea_tests::Cardea;

fn request(call_id: &str, content_length: usize) -> String {
    format!(
        "OPTIONS sip:cardea@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:cardea@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: {content_length}\r\n\r\n"
    )
}

fn exchange(socket: &UdpSocket, target: &str, datagram: &str) -> String {
    socket.send_to(datagram.as_bytes(), target).expect("send");
    let mut buf = [0u8; 4096];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!("no answer to\n{datagram}\n({e})"),
    }
}

#[test]
fn an_unparsable_request_gets_a_400_naming_the_fault_and_the_endpoint_goes_on() {
    let cardea = Cardea::start(SIP_YAML);
    let target = cardea
        .listeners
        .sip_udp
        .clone()
        .expect("a SIP UDP listener");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");

    // The body announced is never sent: the message cannot be framed.
    let answer = exchange(&socket, &target, &request("bad-length", 4000));
    let first = answer.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "SIP/2.0 400 Bad Request - Content-Length larger than body",
        "answer:\n{answer}\nlog:\n{}",
        cardea.logs().join("\n")
    );
    assert!(answer.contains("Call-ID: bad-length\r\n"), "{answer}");
    assert!(answer.contains("CSeq: 1 OPTIONS\r\n"), "{answer}");

    // The same request, well formed, is answered as ever.
    let answer = exchange(&socket, &target, &request("good", 0));
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
}
