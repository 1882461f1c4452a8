//! The SIP plugin driven without any I/O: requests in, commands out, SIP fed back by hand.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardea_sip::{Header, HeaderName, Method, Request, Response};
use serde_json::{json, Value};

use super::{SipEnv, SipPlugin};
use crate::api::{RtpPorts, SipIn, SipOut};
use crate::{Command, Ctx, Jsep, JsepAction, JsepType, MediaKind, Message, Plugin, RecordTarget};

const H: u64 = 7;

/// A browser offer as Chrome makes it, trimmed: opus and PCMU, telephone-event.
const BROWSER_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\nc=IN IP4 0.0.0.0\r\n\
a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=setup:actpass\r\n\
a=fingerprint:sha-256 00:11\r\na=sendrecv\r\na=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtcp-fb:111 transport-cc\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n";

fn plugin() -> SipPlugin {
    let mut p = SipPlugin::new(Some(SipEnv {
        udp: "127.0.0.1:5060".parse().unwrap(),
        user_agent: "Cardea test".into(),
        keepalive: Some(Duration::from_secs(120)),
    }));
    p.create_session(H).unwrap();
    p
}

fn send(p: &mut SipPlugin, body: Value, jsep: Option<Jsep>) -> Vec<Command> {
    let mut ctx = Ctx::at(Instant::now());
    p.handle_message(
        &mut ctx,
        Message {
            handle: H,
            transaction: Some("t".into()),
            body,
            jsep,
        },
    );
    ctx.commands
}

fn feed(p: &mut SipPlugin, sip: SipIn) -> Vec<Command> {
    let mut ctx = Ctx::at(Instant::now());
    p.incoming_sip(&mut ctx, H, sip);
    ctx.commands
}

/// A request from a peer at 127.0.0.1:5090, written out, fed to the handle.
fn feed_raw(p: &mut SipPlugin, raw: &str) -> Vec<Command> {
    let cardea_sip::Message::Request(request) = cardea_sip::Message::parse(raw.as_bytes()).unwrap()
    else {
        panic!("a request: {raw}")
    };
    feed(
        p,
        SipIn::Request {
            key: test_server_key(),
            request,
            source: cardea_sip::transaction::Destination::udp("127.0.0.1:5090".parse().unwrap()),
        },
    )
}

/// Whether the handle answered with `status`.
fn responded(commands: &[Command], status: u16) -> bool {
    commands.iter().any(|c| {
        matches!(c, Command::Sip { out: SipOut::Respond { response, .. }, .. }
            if response.status == status)
    })
}

fn events(commands: &[Command]) -> Vec<(String, Value)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::PushEvent { data, .. } => {
                let name = data["result"]["event"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("error {}", data["error_code"]));
                Some((name, data.clone()))
            }
            _ => None,
        })
        .collect()
}

fn sent_requests(commands: &[Command]) -> Vec<Request> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Sip {
                out: SipOut::Request { request, .. },
                ..
            } => Some(request.clone()),
            _ => None,
        })
        .collect()
}

fn error_code(commands: &[Command]) -> Option<u64> {
    events(commands)
        .into_iter()
        .find_map(|(_, d)| d["error_code"].as_u64())
}

fn guest(p: &mut SipPlugin) {
    let c = send(
        p,
        json!({"request": "register", "type": "guest", "username": "sip:alice@example.org"}),
        None,
    );
    assert_eq!(events(&c)[0].0, "registered");
}

fn offer() -> Option<Jsep> {
    Some(Jsep {
        kind: JsepType::Offer,
        sdp: BROWSER_OFFER.into(),
        trickle: Some(false),
        update: false,
        e2ee: false,
    })
}

fn ports() -> RtpPorts {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    RtpPorts {
        ip,
        audio: (SocketAddr::new(ip, 20000), SocketAddr::new(ip, 20001)),
        video: None,
    }
}

/// Starts a call up to the INVITE on the wire; returns that INVITE.
fn invite_out(p: &mut SipPlugin) -> Request {
    guest(p);
    let c = send(
        p,
        json!({"request": "call", "uri": "sip:bob@127.0.0.1:5070"}),
        offer(),
    );
    assert!(matches!(
        c.as_slice(),
        [Command::OpenRtp {
            handle: H,
            video: false
        }]
    ));
    let mut ctx = Ctx::at(Instant::now());
    p.rtp_opened(&mut ctx, H, Ok(ports()));
    let requests = sent_requests(&ctx.commands);
    assert_eq!(requests.len(), 1);
    assert_eq!(events(&ctx.commands)[0].0, "calling");
    requests[0].clone()
}

fn answer(invite: &Request, status: u16, sdp: Option<&str>) -> Response {
    let mut r = invite.make_response(status);
    let _ = r.set_to_tag("peer");
    r.headers
        .push(Header::new(HeaderName::Contact, "<sip:bob@127.0.0.1:5070>"));
    if let Some(sdp) = sdp {
        r.headers
            .push(Header::new(HeaderName::ContentType, "application/sdp"));
        r.body = Bytes::from(sdp.to_owned());
    }
    r
}

#[test]
fn register_sends_a_register_to_the_proxy_and_reports_registered() {
    let mut p = plugin();
    let c = send(
        &mut p,
        json!({"request": "register", "username": "sip:alice@example.org",
               "secret": "pw", "proxy": "sip:127.0.0.1:5080", "display_name": "Alice"}),
        None,
    );
    let reg = &sent_requests(&c)[0];
    assert_eq!(reg.method, Method::Register);
    assert_eq!(reg.uri.to_string(), "sip:127.0.0.1:5080");
    let contact = reg
        .headers
        .get(&HeaderName::Contact)
        .unwrap()
        .value_str()
        .unwrap();
    assert!(
        contact.contains("sip:alice@127.0.0.1:5060"),
        "Contact names the shared endpoint: {contact}"
    );
    assert!(c.iter().any(|c| matches!(c,
        Command::Sip { out: SipOut::Bind { user }, .. } if user == "alice")));
    assert_eq!(events(&c)[0].0, "registering");
    let mut ok = reg.make_response(200);
    ok.headers.push(Header::new(
        HeaderName::Contact,
        "<sip:alice@127.0.0.1:5060;transport=udp>;expires=600",
    ));
    let c = feed(&mut p, SipIn::Response(ok));
    let ev = events(&c);
    assert_eq!(ev[0].0, "registered");
    assert_eq!(ev[0].1["result"]["username"], "alice");
    // A second register while registered is refused as Janus does (445).
    let c = send(
        &mut p,
        json!({"request": "register", "username": "sip:alice@example.org", "secret": "pw"}),
        None,
    );
    assert_eq!(error_code(&c), Some(445));
}

#[test]
fn registrar_refusal_is_reported_with_its_own_code() {
    let mut p = plugin();
    let c = send(
        &mut p,
        json!({"request": "register", "username": "sip:alice@example.org", "secret": "pw"}),
        None,
    );
    let reg = &sent_requests(&c)[0];
    assert_eq!(reg.uri.to_string(), "sip:example.org");
    let c = feed(&mut p, SipIn::Response(reg.make_response(403)));
    let ev = events(&c);
    assert_eq!(ev[0].0, "registration_failed");
    assert_eq!(ev[0].1["result"]["code"], 403);
    assert_eq!(ev[0].1["result"]["reason"], "Forbidden");
}

#[test]
fn requests_are_checked_with_janus_error_codes() {
    let mut p = plugin();
    assert_eq!(
        error_code(&send(&mut p, json!({"request": "fly"}), None)),
        Some(442)
    );
    assert_eq!(error_code(&send(&mut p, json!({}), None)), Some(443));
    assert_eq!(error_code(&send(&mut p, json!([1]), None)), Some(441));
    let call = json!({"request": "call", "uri": "sip:bob@127.0.0.1"});
    assert_eq!(error_code(&send(&mut p, call.clone(), offer())), Some(447));
    guest(&mut p);
    assert_eq!(error_code(&send(&mut p, call, None)), Some(448));
    let bad_uri = json!({"request": "call", "uri": "mailto:bob"});
    assert_eq!(error_code(&send(&mut p, bad_uri, offer())), Some(446));
    let injected = json!({"request": "call", "uri": "sip:bob@127.0.0.1",
                          "headers": {"X-A": "1\r\nVia: evil"}});
    assert_eq!(error_code(&send(&mut p, injected, offer())), Some(444));
    assert_eq!(
        error_code(&send(&mut p, json!({"request": "hangup"}), None)),
        Some(447)
    );
}

#[test]
fn an_answered_call_configures_the_rtp_leg_then_answers_the_browser_then_bridges() {
    let mut p = plugin();
    let invite = invite_out(&mut p);
    let body = String::from_utf8_lossy(&invite.body).into_owned();
    assert!(body.contains("m=audio 20000 RTP/AVP 111 0 126"), "{body}");
    assert!(
        !body.contains("ice-ufrag") && !body.contains("fingerprint"),
        "{body}"
    );
    let sip_answer = "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0 126\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n";
    let c = feed(
        &mut p,
        SipIn::Response(answer(&invite, 200, Some(sip_answer))),
    );
    // ACK first, then the RTP leg pointed at the peer, the event with the browser's
    // answer (PCMU only), and only then the bridge (the event creates the WebRTC leg).
    let order: Vec<&str> = c
        .iter()
        .map(|c| match c {
            Command::Sip {
                out: SipOut::Stateless { .. },
                ..
            } => "ack",
            Command::ConfigureRtp { .. } => "configure",
            Command::PushEvent { .. } => "event",
            Command::BridgeRtp { enabled: true, .. } => "bridge",
            _ => "other",
        })
        .collect();
    assert_eq!(order, ["ack", "configure", "event", "bridge"]);
    let Some(Command::ConfigureRtp { config, .. }) =
        c.iter().find(|c| matches!(c, Command::ConfigureRtp { .. }))
    else {
        unreachable!()
    };
    assert_eq!(config.kind, MediaKind::Audio);
    assert_eq!(config.remote_rtp, Some("127.0.0.1:30000".parse().unwrap()));
    assert_eq!(config.clock_rate, 8000);
    let Some(Command::PushEvent {
        data,
        jsep: Some(JsepAction::AnswerOffer { offer }),
        ..
    }) = c.iter().find(|c| matches!(c, Command::PushEvent { .. }))
    else {
        panic!("accepted carries the browser's answer: {c:?}")
    };
    assert_eq!(data["result"]["event"], "accepted");
    assert!(
        offer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0 126"),
        "{offer}"
    );
    assert!(!offer.contains("opus"), "{offer}");
    // Hanging up sends BYE; its 200 ends the call as Janus says it.
    let c = send(&mut p, json!({"request": "hangup"}), None);
    assert_eq!(events(&c)[0].0, "hangingup");
    let bye = &sent_requests(&c)[0];
    assert_eq!(bye.method, Method::Bye);
    let c = feed(&mut p, SipIn::Response(bye.make_response(200)));
    let ev = events(&c);
    assert_eq!(ev[0].0, "hangup");
    assert_eq!(ev[0].1["result"]["reason"], "to BYE");
    assert!(c.iter().any(|c| matches!(c, Command::CloseRtp { .. })));
    assert!(c.iter().any(|c| matches!(c, Command::ClosePc { .. })));
    assert!(c.iter().any(|c| matches!(
        c,
        Command::Sip {
            out: SipOut::ReleaseCall { .. },
            ..
        }
    )));
}

#[test]
fn a_busy_callee_ends_the_call_with_its_code_and_frees_everything() {
    let mut p = plugin();
    let invite = invite_out(&mut p);
    let c = feed(&mut p, SipIn::Response(answer(&invite, 486, None)));
    let ev = events(&c);
    assert_eq!(ev[0].0, "hangup");
    assert_eq!(ev[0].1["result"]["code"], 486);
    assert_eq!(ev[0].1["result"]["reason"], "Busy Here");
    assert!(c.iter().any(|c| matches!(c, Command::CloseRtp { .. })));
    // The handle may call again.
    let c = send(
        &mut p,
        json!({"request": "call", "uri": "sip:bob@127.0.0.1:5070"}),
        offer(),
    );
    assert!(matches!(c.as_slice(), [Command::OpenRtp { .. }]));
}

#[test]
fn a_second_incoming_call_gets_486_and_missed_call() {
    let mut p = plugin();
    let _ = invite_out(&mut p);
    let raw = "INVITE sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
From: \"Carol\" <sip:carol@127.0.0.1>;tag=c1\r\nTo: <sip:alice@127.0.0.1>\r\n\
Call-ID: other-call\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@127.0.0.1:5090>\r\n\
Content-Length: 0\r\n\r\n";
    let c = feed_raw(&mut p, raw);
    assert!(responded(&c, 486));
    let ev = events(&c);
    assert_eq!(ev[0].0, "missed_call");
    assert_eq!(ev[0].1["result"]["caller"], "sip:carol@127.0.0.1");
}

/// A server transaction key, from a real transaction layer.
fn test_server_key() -> cardea_sip::transaction::ServerKey {
    use cardea_sip::transaction::{Destination, Timers, TransactionEvent, TransactionLayer};
    let mut layer = TransactionLayer::new(Timers::default());
    let raw =
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKk\r\n\
Max-Forwards: 70\r\nFrom: <sip:y@127.0.0.1>;tag=a\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: k\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let m = cardea_sip::Message::parse(raw.as_bytes()).unwrap();
    layer
        .handle_message(
            Instant::now(),
            m,
            Destination::udp("127.0.0.1:5999".parse().unwrap()),
        )
        .unwrap();
    loop {
        match layer.poll_event() {
            Some(TransactionEvent::Request { key, .. }) => return key,
            Some(_) => continue,
            None => panic!("no request event"),
        }
    }
}

#[test]
fn restricting_the_browser_offer_keeps_only_the_answered_payload_types() {
    use cardea_sip::sdp::{BrowserAnswerConstraints, Direction};
    let keep = BrowserAnswerConstraints {
        browser_index: 0,
        keep_pts: vec![0, 126],
        direction: Direction::SendRecv,
    };
    let out = super::sdp::restrict_offer(BROWSER_OFFER, &[&keep]).unwrap();
    assert!(
        out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0 126\r\n"),
        "{out}"
    );
    assert!(
        !out.contains("a=rtpmap:111") && !out.contains("a=fmtp:111"),
        "{out}"
    );
    assert!(!out.contains("a=rtcp-fb:111"), "{out}");
    assert!(out.contains("a=ice-ufrag:abcd"), "{out}");
}

#[test]
fn a_message_outside_a_call_is_sent_and_its_delivery_reported() {
    let mut p = plugin();
    guest(&mut p);
    let c = send(
        &mut p,
        json!({"request": "message", "uri": "sip:bob@127.0.0.1:5070", "content": "hello"}),
        None,
    );
    let msg = &sent_requests(&c)[0];
    assert_eq!(msg.method, Method::Message);
    assert_eq!(&msg.body[..], b"hello");
    let ct = msg.headers.get(&HeaderName::ContentType).unwrap();
    assert_eq!(ct.value_str().unwrap(), "text/plain");
    assert_eq!(events(&c)[0].0, "messagesent");
    let c = feed(&mut p, SipIn::Response(msg.make_response(202)));
    let ev = events(&c);
    assert_eq!(ev[0].0, "messagedelivery");
    assert_eq!(ev[0].1["result"]["code"], 202);
}

#[test]
fn a_message_to_the_handle_becomes_a_message_event() {
    let mut p = plugin();
    guest(&mut p);
    let raw = "MESSAGE sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK2\r\nMax-Forwards: 70\r\n\
From: \"Carol\" <sip:carol@127.0.0.1>;tag=c2\r\nTo: <sip:alice@127.0.0.1>\r\n\
Call-ID: msg-1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
Content-Length: 2\r\n\r\nhi";
    let c = feed_raw(&mut p, raw);
    assert!(responded(&c, 200));
    let ev = events(&c);
    assert_eq!(ev[0].0, "message");
    assert_eq!(ev[0].1["result"]["content"], "hi");
    assert_eq!(ev[0].1["result"]["sender"], "sip:carol@127.0.0.1");
}

/// A call answered by the peer; returns the INVITE.
fn answered_call(p: &mut SipPlugin) -> Request {
    let invite = invite_out(p);
    let sip_answer = "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let c = feed(p, SipIn::Response(answer(&invite, 200, Some(sip_answer))));
    assert_eq!(events(&c)[0].0, "accepted");
    invite
}

/// A request from the peer inside the dialog of `invite`.
fn from_peer(invite: &Request, method: &str, cseq: u32, extra: &str) -> Request {
    from_peer_with_body(invite, method, cseq, extra, "")
}

/// [`from_peer`] with a body.
fn from_peer_with_body(
    invite: &Request,
    method: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> Request {
    let from_tag = invite
        .headers
        .typed::<cardea_sip::typed::From>()
        .unwrap()
        .unwrap()
        .tag()
        .unwrap()
        .to_owned();
    let call_id = invite
        .headers
        .typed::<cardea_sip::typed::CallId>()
        .unwrap()
        .unwrap()
        .0;
    let raw = format!(
        "{method} sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{method}{cseq}\r\nMax-Forwards: 70\r\n\
From: <sip:bob@127.0.0.1:5070>;tag=peer\r\nTo: <sip:alice@example.org>;tag={from_tag}\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:bob@127.0.0.1:5070>\r\n\
{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    match cardea_sip::Message::parse(raw.as_bytes()).unwrap() {
        cardea_sip::Message::Request(r) => r,
        cardea_sip::Message::Response(_) => unreachable!(),
    }
}

#[test]
fn a_refer_from_the_peer_is_accepted_and_becomes_a_transfer_event() {
    let mut p = plugin();
    let invite = answered_call(&mut p);
    let refer = from_peer(
        &invite,
        "REFER",
        2,
        "Refer-To: <sip:carol@127.0.0.1:5080>\r\nReferred-By: <sip:bob@127.0.0.1:5070>\r\n",
    );
    let c = feed(
        &mut p,
        SipIn::Request {
            key: test_server_key(),
            request: refer,
            source: cardea_sip::transaction::Destination::udp("127.0.0.1:5070".parse().unwrap()),
        },
    );
    assert!(responded(&c, 202));
    let ev = events(&c);
    assert_eq!(ev[0].0, "transfer");
    assert_eq!(ev[0].1["result"]["refer_to"], "sip:carol@127.0.0.1:5080");
    assert_eq!(ev[0].1["result"]["referred_by"], "sip:bob@127.0.0.1:5070");
    // Our own transfer sends a REFER in the dialog.
    let c = send(
        &mut p,
        json!({"request": "transfer", "uri": "sip:dave@127.0.0.1:5090"}),
        None,
    );
    assert_eq!(events(&c)[0].0, "transferring");
    let refer = &sent_requests(&c)[0];
    assert_eq!(refer.method, Method::Refer);
    let to = refer.headers.get(&HeaderName::ReferTo).unwrap();
    assert_eq!(to.value_str().unwrap(), "<sip:dave@127.0.0.1:5090>");
}

#[test]
fn an_info_asking_for_a_picture_fast_update_asks_the_browser_for_a_key_frame() {
    let mut p = plugin();
    let invite = answered_call(&mut p);
    let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<media_control><vc_primitive>\
<to_encoder><picture_fast_update/></to_encoder></vc_primitive></media_control>";
    let mut info = |cseq: u32, content_type: &str| {
        let request = from_peer_with_body(
            &invite,
            "INFO",
            cseq,
            &format!("Content-Type: {content_type}\r\n"),
            xml,
        );
        feed(
            &mut p,
            SipIn::Request {
                key: test_server_key(),
                request,
                source: cardea_sip::transaction::Destination::udp(
                    "127.0.0.1:5070".parse().unwrap(),
                ),
            },
        )
    };
    let c = info(2, "application/media_control+xml");
    assert!(responded(&c, 200));
    assert!(c
        .iter()
        .any(|c| matches!(c, Command::RequestKeyframe { handle: H })));
    let ev = events(&c);
    assert_eq!(ev[0].0, "info", "the app hears of it too");
    assert_eq!(ev[0].1["result"]["type"], "application/media_control+xml");
    // Another body type is only reported.
    let c = info(3, "application/xml");
    assert!(!c
        .iter()
        .any(|c| matches!(c, Command::RequestKeyframe { .. })));
}

#[test]
fn a_browser_re_offer_is_answered_within_the_bridged_codecs() {
    let mut p = plugin();
    let _ = answered_call(&mut p);
    let c = send(&mut p, json!({"request": "update"}), offer());
    let Some(Command::PushEvent {
        data,
        jsep: Some(JsepAction::AnswerOffer { offer }),
        ..
    }) = c.first()
    else {
        panic!("update answers with the restricted offer: {c:?}")
    };
    assert_eq!(data["result"]["event"], "updated");
    assert!(
        offer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"),
        "{offer}"
    );
}

#[test]
fn a_busy_masters_incoming_call_goes_to_an_idle_helper() {
    const HELPER: u64 = 8;
    let mut p = plugin();
    p.create_session(HELPER).unwrap();
    let _ = invite_out(&mut p); // the master (H) is in a call
    let master_id = p.sessions[&H].account.as_ref().unwrap().master_id;
    let mut ctx = Ctx::at(Instant::now());
    p.handle_message(
        &mut ctx,
        Message {
            handle: HELPER,
            transaction: None,
            body: json!({"request": "register", "type": "helper", "master_id": master_id}),
            jsep: None,
        },
    );
    let ev = events(&ctx.commands);
    assert_eq!(ev[0].0, "registered");
    assert_eq!(ev[0].1["result"]["helper"], true);
    let raw = "INVITE sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK3\r\nMax-Forwards: 70\r\n\
From: <sip:carol@127.0.0.1>;tag=c3\r\nTo: <sip:alice@127.0.0.1>\r\n\
Call-ID: to-helper\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@127.0.0.1:5090>\r\n\
Content-Length: 0\r\n\r\n";
    let c = feed_raw(&mut p, raw);
    assert!(c.iter().any(|c| matches!(c,
        Command::Sip { handle: HELPER, out: SipOut::ClaimCall { call_id } } if call_id == "to-helper")));
    assert!(c
        .iter()
        .any(|c| matches!(c, Command::OpenRtp { handle: HELPER, .. })));
    assert!(!c.iter().any(|c| matches!(c,
        Command::Sip { out: SipOut::Respond { response, .. }, .. } if response.status == 486)));
}

#[test]
fn an_invite_requiring_an_extension_we_lack_gets_420() {
    let mut p = plugin();
    guest(&mut p);
    let raw = "INVITE sip:alice@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK4\r\nMax-Forwards: 70\r\n\
From: <sip:carol@127.0.0.1>;tag=c4\r\nTo: <sip:alice@127.0.0.1>\r\n\
Call-ID: needs-precondition\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@127.0.0.1:5090>\r\n\
Require: 100rel, precondition, timer\r\nContent-Length: 0\r\n\r\n";
    let c = feed_raw(&mut p, raw);
    let Some(Command::Sip {
        out: SipOut::Respond { response, .. },
        ..
    }) = c.first()
    else {
        panic!("a response: {c:?}")
    };
    assert_eq!(response.status, 420);
    let unsupported = response.headers.get(&HeaderName::Unsupported).unwrap();
    // 100rel (RFC 3262) and timer (RFC 4028) are ours; preconditions (RFC 3312) are not.
    assert_eq!(unsupported.value_str().unwrap(), "precondition");
}

#[test]
fn a_registered_account_sends_options_keepalives_to_its_registrar() {
    let mut p = plugin();
    let c = send(
        &mut p,
        json!({"request": "register", "username": "sip:alice@example.org",
               "secret": "pw", "proxy": "sip:127.0.0.1:5080"}),
        None,
    );
    let reg = sent_requests(&c)[0].clone();
    let mut ok = reg.make_response(200);
    ok.headers.push(Header::new(
        HeaderName::Contact,
        "<sip:alice@127.0.0.1:5060;transport=udp>;expires=3600",
    ));
    feed(&mut p, SipIn::Response(ok));
    let start = Instant::now();
    let tick = |p: &mut SipPlugin, at: Instant| {
        let mut ctx = Ctx::at(at);
        p.handle_timeout(&mut ctx);
        ctx.commands
    };
    // The first tick schedules; nothing is sent before the interval.
    assert!(sent_requests(&tick(&mut p, start)).is_empty());
    assert!(sent_requests(&tick(&mut p, start + Duration::from_secs(60))).is_empty());
    let c = tick(&mut p, start + Duration::from_secs(121));
    let options = sent_requests(&c);
    assert_eq!(options.len(), 1, "one keep-alive");
    assert_eq!(options[0].method, Method::Options);
    assert_eq!(options[0].uri.to_string(), "sip:127.0.0.1:5080");
    // Its answer is no event.
    let c = feed(&mut p, SipIn::Response(options[0].make_response(200)));
    assert!(events(&c).is_empty(), "{:?}", events(&c));
    // The next one comes an interval later.
    assert!(sent_requests(&tick(&mut p, start + Duration::from_secs(200))).is_empty());
    assert_eq!(
        sent_requests(&tick(&mut p, start + Duration::from_secs(242))).len(),
        1
    );
}

#[test]
fn a_call_is_recorded_in_the_negotiated_codec_paused_resumed_and_stopped() {
    let mut p = plugin();
    guest(&mut p);
    let body = json!({"request": "recording", "action": "start", "audio": true});
    assert_eq!(error_code(&send(&mut p, body.clone(), None)), Some(447));
    answered_call(&mut p);
    let c = send(
        &mut p,
        json!({"request": "recording", "action": "start", "audio": true, "peer_audio": true,
               "video": true, "filename": "/tmp/rec/call"}),
        None,
    );
    let started: Vec<(String, String, String)> = c
        .iter()
        .filter_map(|c| match c {
            Command::Record {
                target: RecordTarget::SipCall(_),
                mid,
                spec,
            } => Some((mid.clone(), spec.path.clone(), spec.codec.clone())),
            _ => None,
        })
        .collect();
    // No video was negotiated: only the two audio files.
    assert_eq!(
        started,
        [
            (
                "peer-audio".into(),
                "/tmp/rec/call-peer-audio.mjr".into(),
                "pcmu".into()
            ),
            (
                "user-audio".into(),
                "/tmp/rec/call-user-audio.mjr".into(),
                "pcmu".into()
            ),
        ]
    );
    let e = events(&c);
    assert_eq!(e[0].0, "recordingupdated");
    assert!(e[0].1["call_id"].is_string() && e[0].1["result"].get("call_id").is_none());
    let info = p.query_session(H);
    assert_eq!(
        info["recording"]["audio-peer"],
        "/tmp/rec/call-peer-audio.mjr"
    );
    let pause = json!({"request": "recording", "action": "pause", "peer_audio": true});
    let c = send(&mut p, pause, None);
    assert!(c.iter().any(|c| matches!(
        c,
        Command::PauseRecord { mid, paused: true, .. } if mid == "peer-audio"
    )));
    let stop = json!({"request": "recording", "action": "stop", "audio": true, "peer_audio": true});
    let c = send(&mut p, stop, None);
    let stopped = c
        .iter()
        .filter(|c| matches!(c, Command::StopRecord { .. }))
        .count();
    assert_eq!(stopped, 2);
    assert!(p.query_session(H).get("recording").is_none());
    let none = json!({"request": "recording", "action": "start"});
    assert_eq!(error_code(&send(&mut p, none, None)), Some(451));
    let bad = json!({"request": "recording", "action": "later", "audio": true});
    assert_eq!(error_code(&send(&mut p, bad, None)), Some(444));
}

#[test]
fn an_update_with_an_offer_is_answered_in_its_200_like_a_re_invite() {
    let mut p = plugin();
    let invite = answered_call(&mut p);
    let offer = "v=0\r\no=pbx 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 30010 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n";
    let update = from_peer_with_body(
        &invite,
        "UPDATE",
        2,
        "Content-Type: application/sdp\r\n",
        offer,
    );
    let c = feed(
        &mut p,
        SipIn::Request {
            key: test_server_key(),
            request: update,
            source: cardea_sip::transaction::Destination::udp("127.0.0.1:5070".parse().unwrap()),
        },
    );
    let answer = c.iter().find_map(|c| match c {
        Command::Sip {
            out: SipOut::Respond { response, .. },
            ..
        } => Some(response.clone()),
        _ => None,
    });
    let answer = answer.expect("the UPDATE is answered");
    assert_eq!(answer.status, 200);
    let sdp = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(sdp.contains("a=recvonly"), "a hold answered: {sdp}");
    assert!(
        c.iter().any(|c| matches!(
            c,
            Command::RetargetRtp { remote_rtp: Some(a), .. } if a.port() == 30010
        )),
        "the peer's new address is taken"
    );
}
