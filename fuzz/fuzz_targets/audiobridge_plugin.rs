//! The AudioBridge plugin with anything a client or a dial-in caller can send: each line of
//! the input that is JSON is a request body from one of three handles (with the line after
//! it as an SDP offer), and the whole input is the body of an INVITE the dialplan sent to
//! room 1234. Nothing may panic; errors become Janus error events or SIP responses.
#![no_main]
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cardea_plugins::audiobridge::AudioBridge;
use cardea_plugins::sip::SipEnv;
use cardea_plugins::{Ctx, Jsep, JsepType, Message, Plugin, RtpPorts, SipIn};
use cardea_sip::transaction::{Destination, Timers, TransactionEvent, TransactionLayer};
use libfuzzer_sys::fuzz_target;

fn ports() -> RtpPorts {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    RtpPorts {
        ip,
        audio: (SocketAddr::new(ip, 20000), SocketAddr::new(ip, 20001)),
        video: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let env = SipEnv {
        udp: "127.0.0.1:5060".parse().unwrap(),
        user_agent: "fuzz".into(),
        keepalive: None,
    };
    let mut p = AudioBridge::new(None, None)
        .with_sip(Some(env))
        .with_dial_out(&["sip:127.0.0.1:5080".into()]);
    for h in 1..=3 {
        p.create_session(h).unwrap();
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Ok(body) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let handle = (i % 3) as u64 + 1;
        let jsep = lines.get(i + 1).map(|sdp| Jsep {
            kind: if i % 2 == 0 { JsepType::Offer } else { JsepType::Answer },
            sdp: (*sdp).to_owned(),
            trickle: Some(false),
            update: false,
            e2ee: i % 5 == 4,
        });
        let mut ctx = Ctx::at(Instant::now());
        p.handle_message(
            &mut ctx,
            Message {
                handle,
                transaction: Some("t".into()),
                body,
                jsep,
            },
        );
        p.rtp_opened(&mut ctx, handle, Ok(ports()));
        p.setup_media(&mut ctx, handle);
        p.talking(&mut ctx, handle, "0", i % 2 == 0, 20.0);
    }

    // A dial-in INVITE whose body is the input.
    let invite = format!(
        "INVITE sip:5000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKfz\r\n\
         From: \"Caller\" <sip:caller@127.0.0.1>;tag=1\r\nTo: <sip:5000@127.0.0.1>\r\n\
         Call-ID: fuzz-dial-in\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:5070>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    let mut bytes = invite.into_bytes();
    bytes.extend_from_slice(data);
    if let Ok(request) = cardea_sip::Message::parse(&bytes) {
        let mut layer = TransactionLayer::new(Timers::default());
        let source = Destination::udp("127.0.0.1:5070".parse().unwrap());
        if layer
            .handle_message(Instant::now(), request, source.clone())
            .is_ok()
        {
            while let Some(e) = layer.poll_event() {
                if let TransactionEvent::Request { key, request, .. } = e {
                    let mut ctx = Ctx::at(Instant::now());
                    p.incoming_sip(
                        &mut ctx,
                        9,
                        SipIn::DialIn {
                            room: 1234,
                            key,
                            request,
                            source: source.clone(),
                        },
                    );
                    p.rtp_opened(&mut ctx, 9, Ok(ports()));
                }
            }
        }
    }
    let mut ctx = Ctx::at(Instant::now() + Duration::from_secs(40));
    p.handle_timeout(&mut ctx);
    p.mix_file_done(&mut ctx, 1234, "x", None);
    for h in [1, 2, 3, 9] {
        let _ = p.query_session(h);
        p.hangup_media(&mut ctx, h);
        p.destroy_session(&mut ctx, h);
    }
});
