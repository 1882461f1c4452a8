//! The SIP plugin with anything a client or a SIP peer can send: a request body (JSON) with
//! a JSEP of any text, then any SIP message as a response to the call or a request to the
//! handle. Nothing may panic; errors become Janus error events or SIP responses.
#![no_main]
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use cardea_plugins::sip::{SipEnv, SipPlugin};
use cardea_plugins::{Ctx, Jsep, JsepType, Message, Plugin, RtpPorts, SipIn};
use cardea_sip::transaction::{Destination, Timers, TransactionEvent, TransactionLayer};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const H: u64 = 1;

fn message(p: &mut SipPlugin, body: serde_json::Value, sdp: Option<String>) {
    let jsep = sdp.map(|sdp| Jsep {
        kind: JsepType::Offer,
        sdp,
        trickle: Some(false),
        update: false,
        e2ee: false,
    });
    let mut ctx = Ctx::at(Instant::now());
    p.handle_message(
        &mut ctx,
        Message {
            handle: H,
            transaction: None,
            body,
            jsep,
        },
    );
}

fuzz_target!(|data: &[u8]| {
    let mut p = SipPlugin::new(Some(SipEnv {
        udp: "127.0.0.1:5060".parse().unwrap(),
        user_agent: "fuzz".into(),
        keepalive: Some(std::time::Duration::from_secs(120)),
    }));
    p.create_session(H).unwrap();
    let text = String::from_utf8_lossy(data).into_owned();
    if let Ok(body) = serde_json::from_slice(data) {
        message(&mut p, body, Some(text.clone()));
    }
    message(
        &mut p,
        json!({"request": "register", "type": "guest", "username": "sip:a@127.0.0.1"}),
        None,
    );
    message(
        &mut p,
        json!({"request": "call", "uri": "sip:b@127.0.0.1:5070"}),
        Some(text),
    );
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut ctx = Ctx::at(Instant::now());
    p.rtp_opened(
        &mut ctx,
        H,
        Ok(RtpPorts {
            ip,
            audio: (SocketAddr::new(ip, 20000), SocketAddr::new(ip, 20001)),
            video: None,
        }),
    );
    let Ok(m) = cardea_sip::Message::parse(data) else {
        return;
    };
    let mut ctx = Ctx::at(Instant::now());
    match m {
        cardea_sip::Message::Response(r) => p.incoming_sip(&mut ctx, H, SipIn::Response(r)),
        request @ cardea_sip::Message::Request(_) => {
            // A real server transaction key for it.
            let mut layer = TransactionLayer::new(Timers::default());
            let source = Destination::udp("127.0.0.1:5070".parse().unwrap());
            if layer
                .handle_message(Instant::now(), request, source.clone())
                .is_err()
            {
                return;
            }
            while let Some(e) = layer.poll_event() {
                if let TransactionEvent::Request { key, request, .. } = e {
                    p.incoming_sip(
                        &mut ctx,
                        H,
                        SipIn::Request {
                            key,
                            request,
                            source: source.clone(),
                        },
                    );
                }
            }
        }
    }
    let mut ctx = Ctx::at(Instant::now());
    p.destroy_session(&mut ctx, H);
});
