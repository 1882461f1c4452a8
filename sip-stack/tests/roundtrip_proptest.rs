//! Property: parse → serialize → parse gives the same start line, headers and body; and
//! arbitrary bytes never panic the parser.

use cardea_sip::{Framer, Message};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,8}){0,2}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        "\\[2001:db8::[0-9a-f]{1,4}\\]",
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z0-9+][a-z0-9._+-]{0,8}"),
        host(),
        prop::option::of(1u16..),
        prop::collection::vec(
            ("[a-z][a-z0-9-]{0,6}", prop::option::of("[a-z0-9.]{1,6}")),
            0..3,
        ),
    )
        .prop_map(|(user, host, port, params)| {
            let mut s = String::from("sip:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (n, v) in params {
                s.push(';');
                s.push_str(&n);
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

fn name_addr() -> impl Strategy<Value = String> {
    (
        prop::option::of("[A-Za-z ]{0,10}"),
        sip_uri(),
        prop::option::of("[a-z0-9]{1,10}"),
    )
        .prop_map(|(dn, uri, tag)| {
            let mut s = match dn {
                Some(d) => format!("\"{d}\" <{uri}>"),
                None => format!("<{uri}>"),
            };
            if let Some(t) = tag {
                s.push_str(";tag=");
                s.push_str(&t);
            }
            s
        })
}

/// An extension header value: printable ASCII, no surrounding whitespace, maybe folded.
fn ext_value() -> impl Strategy<Value = (String, bool)> {
    ("[!-~]([ -~]{0,30}[!-~])?", any::<bool>())
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("INVITE".to_owned()),
        Just("OPTIONS".to_owned()),
        Just("REGISTER".to_owned()),
        "[A-Z][A-Z0-9-]{0,8}",
    ]
}

prop_compose! {
    fn message()(
        method in method(),
        ruri in sip_uri(),
        response in prop::option::of((100u16..700, "[ -~]{0,20}")),
        compact in any::<bool>(),
        via_host in host(),
        branch in "[a-zA-Z0-9]{1,12}",
        from in name_addr(),
        to in name_addr(),
        call_id in "[a-zA-Z0-9@.-]{1,20}",
        seq in any::<u32>(),
        ext in prop::collection::vec((token(), ext_value()), 0..5),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) -> Vec<u8> {
        let mut s = match response {
            Some((code, reason)) => format!("SIP/2.0 {code} {reason}\r\n"),
            None => format!("{method} {ruri} SIP/2.0\r\n"),
        };
        let n = |long: &'static str, short: &'static str| if compact { short } else { long };
        s.push_str(&format!("{}: SIP/2.0/UDP {via_host};branch=z9hG4bK{branch}\r\n", n("Via", "v")));
        s.push_str(&format!("{}: {from}\r\n", n("From", "f")));
        s.push_str(&format!("{}: {to}\r\n", n("To", "t")));
        s.push_str(&format!("{}: {call_id}\r\n", n("Call-ID", "i")));
        s.push_str(&format!("CSeq: {seq} {method}\r\n"));
        for (name, (value, fold)) in ext {
            // Keep extension names clear of the known ones.
            let name = format!("X-{name}");
            match (fold, value.find(' ')) {
                (true, Some(i)) => s.push_str(&format!("{name}: {}\r\n {}\r\n", &value[..i], value[i + 1..].trim_start())),
                _ => s.push_str(&format!("{name}: {value}\r\n")),
            }
        }
        s.push_str(&format!("{}: {}\r\n\r\n", n("Content-Length", "l"), body.len()));
        let mut bytes = s.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

/// Start line, (name, value) of every header, body.
type Summary = (String, Vec<(String, Vec<u8>)>, Vec<u8>);

fn summary(m: &Message) -> Summary {
    let start = match m {
        Message::Request(r) => format!("{} {}", r.method, r.uri),
        Message::Response(r) => format!("{} {}", r.status, r.reason),
    };
    let headers = m
        .headers()
        .iter()
        .map(|h| (h.name().to_string(), h.value_bytes().to_vec()))
        .collect();
    (start, headers, m.body().to_vec())
}

proptest! {
    #[test]
    fn parse_serialize_parse_is_stable(bytes in message()) {
        let m = Message::parse(&bytes).unwrap();
        m.validate().unwrap();
        let written = m.to_bytes();
        prop_assert_eq!(&written, &bytes);
        let again = Message::parse(&written).unwrap();
        prop_assert_eq!(summary(&m), summary(&again));
    }

    #[test]
    fn framer_yields_what_the_datagram_parser_yields(bytes in message(), cut in 0usize..400) {
        let mut f = Framer::default();
        let cut = cut.min(bytes.len());
        f.handle_input(&bytes[..cut]);
        let mut got = Vec::new();
        while let Some(fr) = f.poll_frame().unwrap() { got.push(fr); }
        f.handle_input(&bytes[cut..]);
        while let Some(fr) = f.poll_frame().unwrap() { got.push(fr); }
        prop_assert_eq!(got.len(), 1);
        let cardea_sip::Frame::Message(m) = &got[0] else { panic!("not a message") };
        prop_assert_eq!(summary(m), summary(&Message::parse(&bytes).unwrap()));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reparse_when_accepted(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = Message::parse(&bytes) {
            let _ = m.validate();
            let again = Message::parse(&m.to_bytes());
            prop_assert!(again.is_ok(), "{:?}", again);
        }
        let mut f = Framer::default();
        f.handle_input(&bytes);
        while let Ok(Some(_)) = f.poll_frame() {}
    }

    #[test]
    fn mutated_valid_messages_never_panic(bytes in message(), pos in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut bytes = bytes;
        let i = pos.index(bytes.len());
        bytes[i] = b;
        if let Ok(m) = Message::parse(&bytes) {
            let _ = m.validate();
            prop_assert!(Message::parse(&m.to_bytes()).is_ok());
        }
    }
}
